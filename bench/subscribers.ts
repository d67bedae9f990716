/**
 * Many subscribers spread over a few processes (bench/fixtures/subscribers.ts, compiled), so the
 * clients of a fan-out are not limited to one event loop: open, wait for deliveries, collect
 * receive times, drop and resume, close.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Command, Report, SubscriberTarget } from './fixtures/subscribers-protocol.js';

const fixture = new URL('../dist/bench/fixtures/subscribers.js', import.meta.url).pathname;
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

type ReportOf<T extends Report['type']> = Extract<Report, { type: T }>;

class SubscriberProcess {
  readonly delivered = new Set<number>();
  #waiters: Array<{ type: Report['type']; resolve: (r: Report) => void; reject: (e: Error) => void }> = [];
  #onDelivered: () => void = () => {};

  constructor(private readonly child: ChildProcess) {
    child.on('message', (report: Report) => {
      if (report.type === 'error') return this.#fail(new Error(report.message));
      if (report.type === 'delivered') {
        this.delivered.add(report.seq);
        this.#onDelivered();
      }
      const i = this.#waiters.findIndex((w) => w.type === report.type);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(report);
    });
    child.once('exit', (code, signal) =>
      this.#fail(new Error(`subscriber process exited (${signal ?? code})`)),
    );
  }

  #fail(err: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.failure ??= err;
    this.#onDelivered();
  }

  failure: Error | undefined;

  set onDelivered(listener: () => void) {
    this.#onDelivered = listener;
  }

  next<T extends Report['type']>(type: T, timeoutMs: number): Promise<ReportOf<T>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no '${type}' report within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        type,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as ReportOf<T>);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  send(command: Command): void {
    this.child.send(command);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' } satisfies Command);
    await exited;
    live.delete(this.child);
  }
}

export interface Deliveries {
  /** Receive times (ms, process.hrtime) of each seq, one per subscriber that got it. */
  received: Map<number, number[]>;
  duplicates: number;
}

export class SubscriberFleet {
  private constructor(
    private readonly processes: SubscriberProcess[],
    /** How long opening every subscriber took, in ms (the slowest process). */
    readonly openMs: number,
  ) {}

  /** Forks `processes` processes and opens `count` subscribers spread evenly over them. */
  static async open(
    count: number,
    target: SubscriberTarget,
    processes: number,
    timeoutMs: number,
  ): Promise<SubscriberFleet> {
    const shares = Array.from(
      { length: Math.min(processes, count) },
      (_, i) => Math.floor(count / processes) + (i < count % processes ? 1 : 0),
    );
    const started = shares.map(() => {
      const child = fork(fixture, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      live.add(child);
      return new SubscriberProcess(child);
    });
    const fleet = new SubscriberFleet(started, 0);
    try {
      await Promise.all(started.map((p) => p.next('started', timeoutMs)));
      const ready = await Promise.all(
        started.map((p, i) => {
          const report = p.next('ready', timeoutMs);
          p.send({ type: 'open', count: shares[i]!, target });
          return report;
        }),
      );
      return new SubscriberFleet(started, Math.max(...ready.map((r) => r.ms)));
    } catch (err) {
      await fleet.close();
      throw err;
    }
  }

  /** Resolves true once every subscriber holds `seq`, false after `timeoutMs`. */
  delivered(seq: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const failed = this.processes.find((p) => p.failure);
        if (failed) return finish(() => reject(failed.failure));
        if (this.processes.every((p) => p.delivered.has(seq))) finish(() => resolve(true));
      };
      const timer = setTimeout(() => finish(() => resolve(false)), timeoutMs);
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        for (const p of this.processes) p.onDelivered = () => {};
        settle();
      };
      for (const p of this.processes) p.onDelivered = check;
      check();
    });
  }

  /** Receive times gathered since the last collect, from every process. */
  async collect(timeoutMs: number): Promise<Deliveries> {
    const reports = await Promise.all(
      this.processes.map((p) => {
        const report = p.next('deliveries', timeoutMs);
        p.send({ type: 'collect' });
        return report;
      }),
    );
    const received = new Map<number, number[]>();
    for (const report of reports)
      for (const [seq, times] of Object.entries(report.received))
        received.set(Number(seq), [...(received.get(Number(seq)) ?? []), ...times]);
    return { received, duplicates: reports.reduce((sum, r) => sum + r.duplicates, 0) };
  }

  /** Drops every SSE stream; each subscriber keeps its last event id. */
  async disconnect(timeoutMs: number): Promise<void> {
    await Promise.all(
      this.processes.map((p) => {
        const report = p.next('disconnected', timeoutMs);
        p.send({ type: 'disconnect' });
        return report;
      }),
    );
  }

  /**
   * Reconnects every SSE subscriber with `Last-Event-ID`; resolves once each has `expected`
   * events, with the time that took (the slowest process) and each subscriber's events.
   */
  async resume(expected: number, timeoutMs: number): Promise<{ ms: number; events: string[][] }> {
    const reports = await Promise.all(
      this.processes.map((p) => {
        const report = p.next('resumed', timeoutMs);
        p.send({ type: 'resume', expected });
        return report;
      }),
    );
    return { ms: Math.max(...reports.map((r) => r.ms)), events: reports.flatMap((r) => r.events) };
  }

  async close(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.close()));
  }
}
