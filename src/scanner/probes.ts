/**
 * The probes behind active health checks: an HTTP GET whose status must match, or a TCP connect.
 *
 * A probe never throws and always settles by its deadline: undici and sockets are aborted at the
 * timeout, and a guard timer settles the probe even if an abort were not honoured, so one stuck
 * instance cannot hold a concurrency slot. HTTP probes close their connection after each request
 * (a check every few seconds to thousands of instances must not keep thousands of idle sockets)
 * and read at most a few KiB of the body before discarding it.
 */
import { connect, isIP } from 'node:net';
import type { Agent } from 'undici';
import type { HealthCheck } from '../registry/instance.js';
import { CheckTargets } from './targets.js';

/** What one probe saw. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  /** What failed (`HTTP 500`, `ECONNREFUSED`, `timed out after 2000 ms`), or the status that passed. */
  readonly detail: string;
}

/** Where to probe: the instance's address and its port for the check's protocol. */
export interface ProbeTarget {
  readonly address: string;
  readonly port: number;
  /** HTTPS, when the instance only has an SSL port. */
  readonly tls: boolean;
}

/** Bytes of a response body read before it is thrown away; a health page is small. */
const MAX_BODY_BYTES = 4096;

/** What may be probed when the caller says nothing: the defaults of {@link CheckTargets}. */
const DEFAULT_TARGETS = new CheckTargets();

/**
 * One agent for every HTTP probe under one target policy, resolving names through it. TLS
 * certificates are not verified: a health check asks whether the instance answers, not who it
 * is, and instances often serve internal certificates.
 */
const agents = new WeakMap<CheckTargets, Agent>();

/**
 * undici, loaded by the first HTTP probe: it is the largest library a replica would otherwise
 * load at boot (over 3 MiB of heap), and a deployment without HTTP checks never needs it.
 */
let undici: Promise<typeof import('undici')> | undefined;

function agentFor(targets: CheckTargets, { Agent }: typeof import('undici')): Agent {
  let agent = agents.get(targets);
  if (!agent) {
    agent = new Agent({ connect: { rejectUnauthorized: false, lookup: targets.lookup } });
    agents.set(targets, agent);
  }
  return agent;
}

/**
 * Run the check's probe once against `target`; HTTP probes name the replica that sent them
 * (`from`). `cancel` cuts it short (the scanner closing). An address `targets` refuses, given or
 * resolved, fails the probe with `EZKGATE_TARGET_DENIED` and is never connected to.
 */
export async function probe(
  check: HealthCheck,
  target: ProbeTarget,
  from: string,
  cancel?: AbortSignal,
  targets: CheckTargets = DEFAULT_TARGETS,
): Promise<ProbeResult> {
  // A literal address is connected to without a lookup: judge it here.
  if (isIP(target.address) !== 0 && !targets.permits(target.address)) {
    return { ok: false, detail: 'EZKGATE_TARGET_DENIED', latencyMs: 0 };
  }
  // Loaded before the clock starts: no probe is timed on loading a library.
  const client = check.http ? await (undici ??= import('undici')) : undefined;
  const started = performance.now();
  const controller = new AbortController();
  let guard: NodeJS.Timeout | undefined;
  let stop: (() => void) | undefined;
  const deadline = new Promise<string>((resolve) => {
    const end = (why: string): void => {
      controller.abort();
      resolve(why);
    };
    guard = setTimeout(() => end(`timed out after ${check.timeoutMs} ms`), check.timeoutMs);
    stop = () => end('cancelled');
    if (cancel?.aborted) stop();
    else cancel?.addEventListener('abort', stop, { once: true });
  });
  const run =
    check.http && client
      ? httpProbe(check.http, target, from, client, agentFor(targets, client), controller.signal)
      : tcpProbe(target, targets, controller.signal);
  try {
    const outcome = await Promise.race([run, deadline.then((detail) => ({ ok: false, detail }))]);
    return { ...outcome, latencyMs: Math.round((performance.now() - started) * 1000) / 1000 };
  } finally {
    // Aborting is the timeout's job: a probe that settled has nothing left open, and an abort
    // costs an exception with a stack trace, per probe.
    clearTimeout(guard);
    if (stop) cancel?.removeEventListener('abort', stop);
  }
}

async function httpProbe(
  http: NonNullable<HealthCheck['http']>,
  target: ProbeTarget,
  from: string,
  { request }: typeof import('undici'),
  agent: Agent,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string }> {
  const host = target.address.includes(':') ? `[${target.address}]` : target.address;
  const url = `${target.tls ? 'https' : 'http'}://${host}:${target.port}${http.path}`;
  try {
    const response = await request(url, {
      method: 'GET',
      dispatcher: agent,
      signal,
      reset: true,
      // Which replica probes is visible to the instance: an operator can tell who checks it.
      headers: { 'user-agent': 'zkgate-health-check', 'x-zkgate-replica': from },
    });
    await response.body.dump({ limit: MAX_BODY_BYTES }).catch(() => undefined);
    const ok =
      http.expectStatus === undefined
        ? response.statusCode >= 200 && response.statusCode < 400
        : response.statusCode === http.expectStatus;
    return { ok, detail: `HTTP ${response.statusCode}` };
  } catch (err) {
    return { ok: false, detail: failure(err) };
  }
}

function tcpProbe(
  target: ProbeTarget,
  targets: CheckTargets,
  signal: AbortSignal,
): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.address, port: target.port, signal, lookup: targets.lookup });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true, detail: 'connected' });
    });
    socket.once('error', (err) => {
      socket.destroy();
      resolve({ ok: false, detail: failure(err) });
    });
  });
}

/** A short reason: the system error code where there is one. */
function failure(err: unknown): string {
  const error = err as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  const code = error.code ?? error.cause?.code;
  if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
  return String(error.message ?? err).slice(0, 200);
}
