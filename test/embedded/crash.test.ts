/**
 * Crash safety: a writer process is SIGKILLed while writes are in flight; reopening its data
 * directory must show every acknowledged write, and nothing but whole writes beyond them.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listVersionDir, openServer, useDataDir } from './helpers.js';

const WRITER = fileURLToPath(new URL('./fixtures/writer.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KEYS = 50;

interface Ack {
  n: number;
  key: number;
  version: number;
  mzxid: string;
}

/** Runs the writer until `acks` writes are acknowledged, SIGKILLs it, and returns every ack it printed. */
async function killWriterAfter(dataDir: string, acks: number, snapCount?: number): Promise<Ack[]> {
  const args = ['--import', 'tsx', WRITER, dataDir, String(KEYS), ...(snapCount ? [String(snapCount)] : [])];
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: Ack[] = [];
  let partial = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) seen.push(JSON.parse(line) as Ack);
    if (seen.length >= acks && child.signalCode === null) child.kill('SIGKILL');
  });
  // 'close' comes after the pipes drain: acks still in the pipe when the process died count too.
  await once(child, 'close');
  if (child.signalCode !== 'SIGKILL')
    throw new Error(`writer exited on its own (${child.exitCode}): ${stderr}`);
  return seen;
}

async function expectAcknowledgedWrites(dataDir: string, acks: Ack[]): Promise<void> {
  const server = await openServer(dataDir);
  const store = server.connect();
  const lastAck = new Map<number, Ack>();
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
}

// Reopening after a SIGKILL waits out the dead writer's lock lease (up to 10 s).
describe('embedded store: crash safety', { timeout: 60_000 }, () => {
  it('keeps every acknowledged write across a SIGKILL mid-stream', async () => {
    const dataDir = await useDataDir();
    const acks = await killWriterAfter(dataDir, 300);
    expect(acks.length).toBeGreaterThanOrEqual(300);
    await expectAcknowledgedWrites(dataDir, acks);
  });

  it('keeps every acknowledged write when killed across snapshot boundaries', async () => {
    const dataDir = await useDataDir();
    const acks = await killWriterAfter(dataDir, 600, 25);
    expect((await listVersionDir(dataDir)).snapshots.length).toBeGreaterThan(1);
    await expectAcknowledgedWrites(dataDir, acks);
  });
});
