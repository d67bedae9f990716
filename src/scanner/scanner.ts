/**
 * The scanner: active health checks of the instances this replica owns, HAProxy-style. An
 * instance turns DOWN after `fall` failed probes in a row and UP after `rise` passed ones; the
 * verdict is written to the instance's znode (so every replica, every watcher and every Curator
 * reader sees it) and each probe's result goes to the HotStore.
 *
 * Ownership: each instance with a check is probed by exactly one live gateway replica, chosen by
 * rendezvous hashing of `<service>/<id>` over the members of the gateways group. When a replica
 * dies its session expires, its member znode goes, and the others take its instances over; a
 * replica that cannot prove its session (disconnected, expired) stops probing at once, since
 * another may already own its share.
 *
 * Scheduling: a probe is due one interval after the previous one started (so a verdict comes
 * within `interval x fall`), a little earlier at random so that probes registered together spread
 * out; never while the previous probe of the same instance runs; and never more than
 * `concurrency` probes at a time across all instances. Due probes beyond that wait in line, first
 * come first served: a replica past its capacity checks every instance a little late rather than
 * some not at all, and counts the late starts (`zkgate_checks_late_total`).
 */
import { systemActor, type Actor } from '../acl/actor.js';
import type { GroupMembership, GroupView } from '../coordination/membership.js';
import type { StoreLogger } from '../coordination/store.js';
import type { HotStore } from '../hotstore/store.js';
import type { Metrics } from '../monitor/metrics.js';
import type { InstanceEntry } from '../registry/cache.js';
import type { CheckStatus, HealthCheck } from '../registry/instance.js';
import type { Registry } from '../registry/registry.js';
import { probe, type ProbeResult, type ProbeTarget } from './probes.js';
import type { CheckTargets } from './targets.js';
import { rendezvousOwner } from './rendezvous.js';

export interface ScannerOptions {
  /** This replica's id: its name in the gateways group. */
  readonly replicaId: string;
  /** Probes in flight at most, across all instances. */
  readonly concurrency: number;
  /** Which addresses may be probed. */
  readonly targets: CheckTargets;
  readonly logger: StoreLogger;
  readonly metrics: Metrics;
}

export interface ScannerStatus {
  /** Whether this replica counts itself in the gateways group (and so probes). */
  readonly active: boolean;
  /** Instances with a check this replica owns. */
  readonly owned: number;
  /** Probes running now. */
  readonly running: number;
  /** Probes waiting for a concurrency slot. */
  readonly queued: number;
}

/** Share of the interval a probe may start early, so probes registered together spread out. */
const JITTER = 0.1;

/** One owned instance's check and its HAProxy counters. */
interface Target {
  readonly service: string;
  readonly id: string;
  /** The check and address as JSON: a change of either starts the counters afresh. */
  readonly spec: string;
  readonly check: HealthCheck;
  readonly where: ProbeTarget;
  /** The verdict the znode holds; undefined (no verdict yet) counts as UP. */
  verdict: CheckStatus | undefined;
  successes: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
  /** When the next probe is due (it may wait in line for a slot after that). */
  due: number;
  lastStart: number;
  busy: boolean;
  dropped: boolean;
}

export class Scanner {
  /** Owned targets by service, then instance id: a change of one service touches only its own. */
  private readonly targets = new Map<string, Map<string, Target>>();
  private readonly queue: Target[] = [];
  private view: GroupView;
  private running = 0;
  private closed = false;
  private readonly stops: (() => void)[] = [];
  /** Probes with what follows them (result, verdict write), for close() to wait for. */
  private readonly inflight = new Set<Promise<void>>();
  /** Cuts every probe short on close: a probe's timeout may be as long as an hour. */
  private readonly shutdown = new AbortController();
  /** Who the audit trail names for a verdict: this replica's health checks. */
  private readonly actor: Actor;

  constructor(
    private readonly registry: Registry,
    private readonly hot: HotStore,
    private readonly membership: GroupMembership,
    private readonly options: ScannerOptions,
  ) {
    this.view = membership.current;
    this.actor = systemActor(`health check on ${options.replicaId}`);
  }

  /** Follow the registry and the gateways group; probes start as instances are owned. */
  start(): void {
    this.stops.push(
      this.registry.cache.onChange((changes) => {
        if (!this.view.joined) return;
        for (const change of changes) {
          if (change.entry) this.reconcile(change.service, change.entry);
          else this.drop(change.service, change.instanceId);
        }
      }),
      this.membership.onChange((view) => {
        this.view = view;
        this.reconcileAll();
      }),
    );
    this.view = this.membership.current;
    this.reconcileAll();
  }

  /** Stop probing; resolves once no probe runs and no verdict is being written. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.stops.splice(0)) stop();
    this.dropAll();
    this.shutdown.abort();
    await Promise.allSettled([...this.inflight]);
  }

  status(): ScannerStatus {
    return {
      active: this.view.joined,
      owned: [...this.targets.values()].reduce((sum, byId) => sum + byId.size, 0),
      running: this.running,
      queued: this.queue.filter((t) => !t.dropped).length,
    };
  }

  /** Which replica owns an instance's check under the current group (for status pages and tests). */
  ownerOf(service: string, id: string): string | undefined {
    return rendezvousOwner(keyOf(service, id), this.view.members);
  }

  private reconcileAll(): void {
    if (this.closed) return;
    if (!this.view.joined) return this.dropAll();
    const services = new Set<string>();
    for (const entry of this.registry.cache.services()) {
      services.add(entry.service);
      this.reconcileService(entry.service, entry.instances.values());
    }
    for (const service of [...this.targets.keys()]) {
      if (!services.has(service)) this.reconcileService(service, []);
    }
  }

  private reconcileService(service: string, instances: Iterable<InstanceEntry>): void {
    const seen = new Set<string>();
    for (const instance of instances) {
      this.reconcile(service, instance);
      seen.add(instance.instance.id);
    }
    const held = this.targets.get(service);
    if (!held) return;
    for (const id of [...held.keys()]) if (!seen.has(id)) this.drop(service, id);
  }

  /** Own, update or let go of one instance's check. */
  private reconcile(service: string, entry: InstanceEntry): void {
    const { instance } = entry;
    const check = instance.check;
    const where = check && targetOf(instance, check);
    if (!check || !where || this.ownerOf(service, instance.id) !== this.options.replicaId) {
      return this.drop(service, instance.id);
    }
    const spec = JSON.stringify([check, where]);
    const held = this.targets.get(service)?.get(instance.id);
    if (held?.spec === spec) {
      // Another writer (an operator, a previous owner) may have changed the verdict.
      held.verdict = instance.checkStatus;
      return;
    }
    this.drop(service, instance.id);
    const target: Target = {
      service,
      id: instance.id,
      spec,
      check,
      where,
      verdict: instance.checkStatus,
      successes: 0,
      failures: 0,
      timer: undefined,
      due: 0,
      lastStart: 0,
      busy: false,
      dropped: false,
    };
    let byId = this.targets.get(service);
    if (!byId) this.targets.set(service, (byId = new Map()));
    byId.set(instance.id, target);
    // The first probe at a random point of the first interval: a replica taking over thousands
    // of instances at once does not probe them all in the same instant.
    this.schedule(target, Math.random() * check.intervalMs);
  }

  private drop(service: string, id: string): void {
    const byId = this.targets.get(service);
    const target = byId?.get(id);
    if (!byId || !target) return;
    byId.delete(id);
    if (byId.size === 0) this.targets.delete(service);
    // A queued target is skipped when its turn comes.
    target.dropped = true;
    clearTimeout(target.timer);
  }

  private dropAll(): void {
    for (const [service, byId] of [...this.targets])
      for (const id of [...byId.keys()]) this.drop(service, id);
  }

  private schedule(target: Target, delayMs: number): void {
    target.due = Date.now() + delayMs;
    target.timer = setTimeout(() => this.enqueue(target), delayMs);
    target.timer.unref();
  }

  private enqueue(target: Target): void {
    target.timer = undefined;
    if (target.dropped || target.busy) return;
    target.busy = true;
    if (this.running < this.options.concurrency) this.launch(target);
    else this.queue.push(target);
  }

  private launch(target: Target): void {
    const run = this.run(target);
    this.inflight.add(run);
    void run.finally(() => this.inflight.delete(run));
  }

  private async run(target: Target): Promise<void> {
    this.running++;
    const now = Date.now();
    // Late by waiting in line for a slot, beyond the jitter: more checks than slots.
    if (now - target.due > target.check.intervalMs * JITTER) this.options.metrics.checksLate.inc();
    target.lastStart = now;
    let result: ProbeResult;
    try {
      result = await probe(
        target.check,
        target.where,
        this.options.replicaId,
        this.shutdown.signal,
        this.options.targets,
      );
    } finally {
      this.running--;
      let next = this.queue.shift();
      while (next?.dropped) next = this.queue.shift();
      if (next) this.launch(next);
    }
    target.busy = false;
    this.options.metrics.checks.inc({
      kind: target.check.http ? 'http' : 'tcp',
      result: result.ok ? 'pass' : 'fail',
    });
    this.options.metrics.checkDuration.observe(result.latencyMs / 1000);
    if (target.dropped) return;
    this.record(target, result);
    await this.judge(target, result.ok);
    if (target.dropped) return;
    const early = target.check.intervalMs * JITTER * Math.random();
    const due = target.lastStart + target.check.intervalMs - early;
    this.schedule(target, Math.max(0, due - Date.now()));
  }

  /** HAProxy's rise and fall: a verdict flips after that many probes in a row say otherwise. */
  private async judge(target: Target, ok: boolean): Promise<void> {
    if (ok) {
      target.successes++;
      target.failures = 0;
    } else {
      target.failures++;
      target.successes = 0;
    }
    const current = target.verdict ?? 'UP';
    const verdict: CheckStatus | undefined =
      current === 'DOWN' && target.successes >= target.check.rise
        ? 'UP'
        : current === 'UP' && target.failures >= target.check.fall
          ? 'DOWN'
          : undefined;
    if (verdict === undefined) return;
    try {
      const from = { verdict: target.verdict, owned: () => !target.dropped };
      if (await this.registry.writer.setCheckStatus(this.actor, target.service, target.id, verdict, from)) {
        target.verdict = verdict;
        this.options.metrics.checkTransitions.inc({ to: verdict });
        this.options.logger.info(
          {
            service: target.service,
            id: target.id,
            verdict,
            failures: target.failures,
            successes: target.successes,
          },
          'health check verdict changed',
        );
      }
    } catch (err) {
      // The store is unreachable: the counters stand, so the next probe tries the write again.
      this.options.logger.warn(
        { err, service: target.service, id: target.id, verdict },
        'health check verdict not written',
      );
    }
  }

  private record(target: Target, result: ProbeResult): void {
    this.hot
      .recordCheck(target.service, target.id, {
        ok: result.ok,
        at: Date.now(),
        latencyMs: result.latencyMs,
        detail: result.detail,
        by: this.options.replicaId,
      })
      .catch(() => {
        // The hot store is down: results are informational, the verdict does not depend on them.
      });
  }
}

/** What rendezvous hashing places: the instance's path below the services znode. */
function keyOf(service: string, id: string): string {
  return `${service}/${id}`;
}

/** Where a check probes: HTTP or TCP on the plain port, or HTTPS/TCP on the SSL port when there is no plain one. */
function targetOf(instance: InstanceEntry['instance'], check: HealthCheck): ProbeTarget | undefined {
  const port = instance.port ?? instance.sslPort;
  if (port === null) return undefined;
  return { address: instance.address, port, tls: check.http !== undefined && instance.port === null };
}
