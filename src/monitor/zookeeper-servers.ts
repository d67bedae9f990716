/**
 * The monitor's view of the ZooKeeper ensemble (`GET /v1/cluster`): each server of the connect
 * string asked directly with a four-letter word, so the answer shows servers the client
 * session is not connected to, and ones that are down.
 *
 * `mntr` is asked first because it carries the most (watches, ephemerals, synced followers);
 * ZooKeeper 3.5+ only whitelists `srvr` by default, so a refused `mntr` falls back to it.
 * Every probe is bounded in time and reply size: a frozen host still completes the TCP
 * handshake (the kernel does it), and a misconfigured port may stream anything.
 */
import { createConnection } from 'node:net';

export type ZooKeeperMode = 'leader' | 'follower' | 'observer' | 'standalone' | 'read-only' | 'unknown';

export interface ZooKeeperServerStatus {
  /** `host:port` as in the connect string, the port made explicit. */
  readonly address: string;
  readonly reachable: boolean;
  /** Absent when unreachable, not serving, or no four-letter word it answers reports one. */
  readonly mode?: ZooKeeperMode;
  readonly version?: string;
  readonly latencyMs?: { readonly min: number; readonly avg: number; readonly max: number };
  readonly znodes?: number;
  readonly watches?: number;
  readonly ephemerals?: number;
  readonly connections?: number;
  readonly outstandingRequests?: number;
  /** Hex `0x...`; only `srvr` reports it. */
  readonly zxid?: string;
  /** Leader only. */
  readonly followers?: number;
  /** Which four-letter word answered. */
  readonly source?: 'mntr' | 'srvr';
  /** Why the server is unreachable, or what is wrong with it. */
  readonly error?: string;
}

export interface ProbeOptions {
  /** Budget per server, connection and a `srvr` fallback included. Default 1000 ms. */
  readonly timeoutMs?: number;
}

const DEFAULT_PORT = 2181;
const DEFAULT_TIMEOUT_MS = 1_000;
/** A 3.8 leader's `mntr` is ~18 KiB with two followers and grows ~1.5 KiB per learner. */
const MAX_REPLY_BYTES = 64 * 1024;

const MODES: ReadonlySet<string> = new Set(['leader', 'follower', 'observer', 'standalone', 'read-only']);
const NOT_WHITELISTED = /is not executed because it is not in the whitelist/;
const NOT_SERVING = /not currently serving requests/;

/**
 * Splits `host:port,host[:port]...[/chroot]` into servers, as the ZooKeeper client does:
 * port 2181 when omitted, IPv6 hosts in brackets, the chroot ignored (it applies to paths, not
 * servers). Duplicates are dropped. Throws on an entry that is not a valid address, since that
 * is a configuration error rather than a server fault.
 */
export function parseConnectString(connect: string): { host: string; port: number }[] {
  const servers = new Map<string, { host: string; port: number }>();
  const slash = connect.indexOf('/');
  for (const entry of (slash === -1 ? connect : connect.slice(0, slash)).split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(trimmed);
    const host = match?.[1] ?? match?.[2];
    const port = match?.[3] === undefined ? DEFAULT_PORT : Number(match[3]);
    if (host === undefined || port < 1 || port > 65_535) {
      throw new Error(`invalid server address in connect string: ${JSON.stringify(trimmed)}`);
    }
    servers.set(formatAddress(host, port), { host, port });
  }
  return [...servers.values()];
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Probes every server of `connect` in parallel and resolves with one status per server, in
 * connect-string order. Never rejects for a server fault: each status carries its own error.
 */
export async function probeServers(
  connect: string,
  options: ProbeOptions = {},
): Promise<ZooKeeperServerStatus[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return Promise.all(parseConnectString(connect).map((server) => probeServer(server, timeoutMs)));
}

async function probeServer(
  server: { host: string; port: number },
  timeoutMs: number,
): Promise<ZooKeeperServerStatus> {
  const address = formatAddress(server.host, server.port);
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    let source: 'mntr' | 'srvr' = 'mntr';
    let reply = await fourLetterWord(server, source, deadline.signal);
    if (NOT_WHITELISTED.test(reply)) {
      source = 'srvr';
      reply = await fourLetterWord(server, source, deadline.signal);
    }
    if (NOT_WHITELISTED.test(reply)) {
      return { address, reachable: true, source, error: 'neither mntr nor srvr is whitelisted' };
    }
    if (NOT_SERVING.test(reply)) return { address, reachable: true, source, error: 'not serving requests' };
    const fields = source === 'mntr' ? fromMntr(reply) : fromSrvr(reply);
    const recognized = fields.mode !== undefined;
    return withoutUndefined({
      address,
      reachable: true,
      ...fields,
      mode: fields.mode ?? 'unknown',
      source,
      error: recognized ? undefined : `unrecognized ${source} reply`,
    });
  } catch (error) {
    const reason = deadline.signal.aborted ? `timed out after ${timeoutMs} ms` : describeError(error);
    return { address, reachable: false, error: reason };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Sends `command` and resolves with everything received until the server closes the
 * connection, which ZooKeeper does after replying.
 */
function fourLetterWord(
  server: { host: string; port: number },
  command: string,
  signal: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const socket = createConnection(server);
    const settle = (error?: Error): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onAbort = (): void => settle(new Error('aborted'));
    if (signal.aborted) return settle(new Error('aborted'));
    signal.addEventListener('abort', onAbort);
    socket.on('connect', () => socket.write(command));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) return settle(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`));
      chunks.push(chunk);
    });
    socket.on('end', () => settle());
    socket.on('error', (error) => settle(error));
  });
}

/** A system error's code (`ECONNREFUSED`, `ENOTFOUND`) is what an operator searches for. */
function describeError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}

type Fields = Omit<ZooKeeperServerStatus, 'address' | 'reachable' | 'source' | 'error'>;

/** `mntr` lines are `zk_key<TAB>value`. */
function fromMntr(reply: string): Fields {
  const values = keyValues(reply, '\t');
  const mode = toMode(values.get('zk_server_state'));
  const min = toNumber(values.get('zk_min_latency'));
  const avg = toNumber(values.get('zk_avg_latency'));
  const max = toNumber(values.get('zk_max_latency'));
  return {
    mode,
    version: values.get('zk_version') || undefined,
    latencyMs: toLatency(min, avg, max),
    znodes: toNumber(values.get('zk_znode_count')),
    watches: toNumber(values.get('zk_watch_count')),
    ephemerals: toNumber(values.get('zk_ephemerals_count')),
    connections: toNumber(values.get('zk_num_alive_connections')),
    outstandingRequests: toNumber(values.get('zk_outstanding_requests')),
    // zk_followers is what ZooKeeper 3.4 called it.
    followers:
      mode === 'leader'
        ? toNumber(values.get('zk_synced_followers') ?? values.get('zk_followers'))
        : undefined,
  };
}

/** `srvr` lines are `Label: value`, the latencies as one `min/avg/max` value. */
function fromSrvr(reply: string): Fields {
  const values = keyValues(reply, ': ');
  const [min, avg, max] = (values.get('Latency min/avg/max') ?? '').split('/').map(toNumber);
  const zxid = values.get('Zxid');
  return {
    mode: toMode(values.get('Mode')),
    version: values.get('Zookeeper version') || undefined,
    latencyMs: toLatency(min, avg, max),
    znodes: toNumber(values.get('Node count')),
    connections: toNumber(values.get('Connections')),
    outstandingRequests: toNumber(values.get('Outstanding')),
    zxid: zxid !== undefined && /^0x[0-9a-f]+$/i.test(zxid) ? zxid.toLowerCase() : undefined,
  };
}

function keyValues(reply: string, separator: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of reply.split(/\r?\n/)) {
    const at = line.indexOf(separator);
    if (at > 0) values.set(line.slice(0, at).trim(), line.slice(at + separator.length).trim());
  }
  return values;
}

/** `undefined` when the server named no state at all, so the reply counts as unrecognized. */
function toMode(value: string | undefined): ZooKeeperMode | undefined {
  if (value === undefined) return undefined;
  return MODES.has(value) ? (value as ZooKeeperMode) : 'unknown';
}

function toNumber(value: string | undefined): number | undefined {
  return value !== undefined && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : undefined;
}

function toLatency(
  min: number | undefined,
  avg: number | undefined,
  max: number | undefined,
): ZooKeeperServerStatus['latencyMs'] {
  return min === undefined || avg === undefined || max === undefined ? undefined : { min, avg, max };
}

/** Absent rather than `undefined`, so tests and JSON see the same shape. */
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
