/**
 * The embedded store SIGKILLed in a concurrent write stream: every acknowledged write survives the
 * restart byte for byte, and beyond them there are only whole writes that were sent.
 *
 * - Through the gateway: publishers write concurrently until the process is killed; the gateway
 *   restarted on the same data directory serves every acknowledged publish from its history.
 * - The store alone (20 writes in flight, `test/embedded/fixtures/writer.ts`), also across
 *   snapshot boundaries (a snapshot every 25 writes).
 *
 * A restart waits out the dead process's lock lease (up to 10 s), so the three kills run
 * concurrently: the waits overlap.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import { listVersionDir } from '../embedded/helpers.js';
import { ready, startGateway } from '../support/gateway-process.js';
import { MANAGEMENT } from '../support/tokens.js';
import { PublisherFleet } from './publishers.js';

const WRITER = fileURLToPath(new URL('../embedded/fixtures/writer.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KEYS = 50;

const report = (line: string): void => console.log(`[faults] ${line}`);

/** A fresh data directory for `run`, removed afterwards (concurrent tests cannot share hooks). */
async function withDataDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'zkgate-faults-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface WriterAck {
  n: number;
  key: number;
  version: number;
  mzxid: string;
}

/** Runs the writer until `acks` writes are acknowledged, SIGKILLs it, and returns every ack it printed. */
async function killWriterAfter(dataDir: string, acks: number, snapCount?: number): Promise<WriterAck[]> {
  const args = ['--import', 'tsx', WRITER, dataDir, String(KEYS), ...(snapCount ? [String(snapCount)] : [])];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: WriterAck[] = [];
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) seen.push(JSON.parse(line) as WriterAck);
    if (seen.length >= acks && child.signalCode === null) child.kill('SIGKILL');
  });
  // 'close' comes after the pipes drain: acks still in the pipe when the process died count too.
  await once(child, 'close');
  if (child.signalCode !== 'SIGKILL')
    throw new Error(`writer exited on its own (${child.exitCode}): ${stderr}`);
  return seen;
}

async function expectWriterAcksDurable(dataDir: string, acks: readonly WriterAck[]): Promise<void> {
  // Opening waits out the dead writer's lock lease.
  const server = await EmbeddedServer.open({ dataDir });
  try {
    const store = server.connect();
    const lastAck = new Map<number, WriterAck>();
    for (const ack of acks) if ((lastAck.get(ack.key)?.n ?? -1) < ack.n) lastAck.set(ack.key, ack);
    expect(server.lastZxid).toBeGreaterThanOrEqual(
      acks.reduce((max, a) => (BigInt(a.mzxid) > max ? BigInt(a.mzxid) : max), 0n),
    );
    for (const ack of lastAck.values()) {
      const { data, stat } = await store.getData(`/crash/k${ack.key}`);
      const n = Number(data.toString());
      if (stat.mzxid === BigInt(ack.mzxid)) {
        expect({ n, version: stat.version }).toEqual({ n: ack.n, version: ack.version });
      } else {
        // A write that was durable but not yet acknowledged when the process died: whole, and newer.
        expect(stat.mzxid).toBeGreaterThan(BigInt(ack.mzxid));
        expect(n % KEYS).toBe(ack.key);
        expect(n).toBeGreaterThan(ack.n);
        expect(stat.version).toBeGreaterThan(ack.version);
      }
    }
    const { children } = await store.getChildren('/crash');
    for (const child of children) expect(child).toMatch(/^k\d+$/);
  } finally {
    await server.close();
  }
}

describe('the embedded store SIGKILLed in a concurrent write stream', () => {
  it.concurrent(
    'through the gateway: every acknowledged publish survives a restart byte for byte',
    async () => {
      await withDataDir(async (dataDir) => {
        const env = { ZKGATE_DATA_DIR: dataDir, ZKGATE_HISTORY_LIMIT: '10000', LOG_LEVEL: 'warn' };
        const first = await startGateway(env);
        await ready(first);
        const shared = 'faults/embedded/shared';
        const fleet = new PublisherFleet(
          [first.url],
          [0, 1, 2, 3].map((p) => ({ replica: 0, namespaces: [`faults/embedded/ns${p}`, shared] })),
          { pauseMs: 0, padding: 2048, headers: MANAGEMENT },
        );
        fleet.start();
        await fleet.until(() => fleet.acks.length >= 200, 30_000, '200 acknowledged publishes');
        // Mid-stream: four publishes in flight, no graceful anything.
        first.child.kill('SIGKILL');
        await first.exited;
        await fleet.stop();

        const restartedAt = Date.now();
        const second = await startGateway(env);
        try {
          await ready(second);
          report(
            `embedded gateway SIGKILLed after ${fleet.acks.length} acknowledged publishes; ` +
              `serving again ${Date.now() - restartedAt} ms after the restart (lock lease included)`,
          );
          for (const ack of fleet.acks) {
            const res = await fetch(`${second.url}/v1/config/${ack.namespace}:history/${ack.version}`, {
              headers: MANAGEMENT,
            });
            expect(res.status, `${ack.namespace}@${ack.version}`).toBe(200);
            expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(ack.content))).toBe(true);
          }
          // Beyond what was acknowledged: only whole publishes that were sent, and the document is the newest.
          for (const namespace of new Set(fleet.acks.map((a) => a.namespace))) {
            const newestAck = Math.max(
              ...fleet.acks.filter((a) => a.namespace === namespace).map((a) => a.version),
            );
            const releases = (await (
              await fetch(`${second.url}/v1/config/${namespace}:history?limit=10000`, { headers: MANAGEMENT })
            ).json()) as Array<{ version: number }>;
            const sent = new Set(
              fleet.attempts.filter((a) => a.namespace === namespace).map((a) => a.content),
            );
            for (const { version } of releases.filter((r) => r.version > newestAck)) {
              const res = await fetch(`${second.url}/v1/config/${namespace}:history/${version}`, {
                headers: MANAGEMENT,
              });
              expect(sent.has(await res.text()), `${namespace}@${version} is a publish that was sent`).toBe(
                true,
              );
            }
            const current = await fetch(`${second.url}/v1/config/${namespace}`, { headers: MANAGEMENT });
            expect(Number(current.headers.get('x-zkgate-version'))).toBe(releases[0]!.version);
            expect(releases[0]!.version).toBeGreaterThanOrEqual(newestAck);
          }
        } finally {
          second.child.kill('SIGTERM');
          await second.exited;
        }
      });
    },
    60_000,
  );

  it.concurrent(
    'the store alone, 20 writes in flight: every acknowledged write survives',
    async () => {
      await withDataDir(async (dataDir) => {
        const acks = await killWriterAfter(dataDir, 300);
        expect(acks.length).toBeGreaterThanOrEqual(300);
        await expectWriterAcksDurable(dataDir, acks);
      });
    },
    60_000,
  );

  it.concurrent(
    'the store alone, killed across snapshot boundaries: every acknowledged write survives',
    async () => {
      await withDataDir(async (dataDir) => {
        const acks = await killWriterAfter(dataDir, 600, 25);
        expect((await listVersionDir(dataDir)).snapshots.length).toBeGreaterThan(1);
        await expectWriterAcksDurable(dataDir, acks);
      });
    },
    60_000,
  );
});
