/**
 * The `memory` adapter: the hot-store port inside one process (the embedded default). Nothing is
 * shared between processes or survives a restart; a new process is a new generation.
 */
import { randomUUID } from 'node:crypto';
import { checkExpiredArgs, checkName, checkRenewals, makeLease, normalizeCheck, renewOne } from './args.js';
import { HotStoreError } from './errors.js';
import type {
  CheckResult,
  ExpiredLease,
  Generation,
  HotStore,
  HotStoreState,
  HotStoreStateEvent,
  Lease,
  LeaseRenewal,
  LoadReport,
} from './store.js';

export interface MemoryHotStoreOptions {
  /** The store's clock in ms; tests inject one. Default `Date.now`. */
  readonly now?: () => number;
}

/** One renewal in the expiry index; outdated once its lease is no longer the instance's lease. */
interface Entry {
  readonly service: string;
  readonly instance: string;
  readonly lease: Lease;
}

/** Earlier expiry first; ties by service, then instance, so the order is deterministic. */
function before(a: Entry, b: Entry): boolean {
  const x = a.lease.expiresAt;
  const y = b.lease.expiresAt;
  if (x !== y) return x < y;
  if (a.service !== b.service) return a.service < b.service;
  return a.instance < b.instance;
}

/** A binary min-heap of entries by {@link before}. */
class EntryHeap {
  private items: Entry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  push(entry: Entry): void {
    this.items.push(entry);
    this.siftUp(this.items.length - 1);
  }

  pop(): Entry | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (top !== undefined && last !== undefined && this.items.length > 0) {
      this.items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Replace the contents, in O(n). */
  rebuild(entries: Entry[]): void {
    this.items = entries;
    for (let i = (entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftUp(index: number): void {
    const items = this.items;
    const entry = items[index] as Entry;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = items[parent] as Entry;
      if (!before(entry, above)) break;
      items[index] = above;
      index = parent;
    }
    items[index] = entry;
  }

  private siftDown(index: number): void {
    const items = this.items;
    const n = items.length;
    const entry = items[index] as Entry;
    for (;;) {
      let child = 2 * index + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && before(items[right] as Entry, items[child] as Entry)) child = right;
      const below = items[child] as Entry;
      if (!before(below, entry)) break;
      items[index] = below;
      index = child;
    }
    items[index] = entry;
  }
}

/**
 * Outdated entries stay in the heap until they surface (lazy deletion keeps a renewal at
 * O(log n)); past this many, and past twice the live leases, the heap is rebuilt from the live
 * ones so a store renewed for days does not grow without bound.
 */
const COMPACT_MIN_ENTRIES = 1024;

/**
 * The hot store in process memory: a map of leases per service and a min-heap of expiries, so
 * {@link MemoryHotStore.expired} costs O((limit + outdated entries) log n), not a sort of all
 * leases; beside them a map of check results per service. Always `connected`; never emits state
 * changes.
 *
 * @example
 * const store = new MemoryHotStore();
 * await store.renewLease('billing', 'billing-1', 10_000, { inflight: 3 });
 * const late = await store.expired(await store.now(), 100);
 */
export class MemoryHotStore implements HotStore {
  readonly kind = 'memory' as const;

  private readonly clock: () => number;
  private readonly services = new Map<string, Map<string, Lease>>();
  private readonly heap = new EntryHeap();
  /** Check results by service, then instance; a service without any has no entry. */
  private readonly checks = new Map<string, Map<string, CheckResult>>();
  private leaseCount = 0;
  private closed = false;
  private readonly currentGeneration: Generation;

  constructor(options: MemoryHotStoreOptions = {}) {
    this.clock = options.now ?? Date.now;
    this.currentGeneration = Object.freeze({ id: randomUUID(), since: this.clock() });
  }

  get state(): HotStoreState {
    return this.closed ? 'disconnected' : 'connected';
  }

  onStateChange(_listener: (event: HotStoreStateEvent) => void): () => void {
    return () => undefined;
  }

  async renewLease(service: string, instance: string, ttlMs: number, load?: LoadReport): Promise<Lease> {
    return renewOne(this, service, instance, ttlMs, load);
  }

  async renewLeases(renewals: readonly LeaseRenewal[]): Promise<Lease[]> {
    this.checkOpen();
    const loads = checkRenewals(renewals);
    const now = this.clock();
    return renewals.map(({ service, instance, ttlMs }, i) =>
      this.renew(service, instance, makeLease(now, ttlMs, loads[i])),
    );
  }

  async getLease(service: string, instance: string): Promise<Lease | undefined> {
    this.checkOpen();
    checkName('service', service);
    checkName('instance', instance);
    return this.services.get(service)?.get(instance);
  }

  async leases(service: string): Promise<Map<string, Lease>> {
    this.checkOpen();
    checkName('service', service);
    return new Map(this.services.get(service));
  }

  async removeLease(service: string, instance: string): Promise<void> {
    this.checkOpen();
    checkName('service', service);
    checkName('instance', instance);
    const checks = this.checks.get(service);
    if (checks?.delete(instance) && checks.size === 0) this.checks.delete(service);
    const leases = this.services.get(service);
    if (!leases?.delete(instance)) return;
    this.leaseCount--;
    if (leases.size === 0) this.services.delete(service);
    this.compactIfSparse();
  }

  async expired(now: number, limit: number): Promise<ExpiredLease[]> {
    this.checkOpen();
    checkExpiredArgs(now, limit);
    // Pop the earliest entries, dropping outdated ones for good, then put the listed ones back:
    // listing must not remove them.
    const found: Entry[] = [];
    while (found.length < limit) {
      const top = this.heap.peek();
      if (top === undefined || top.lease.expiresAt > now) break;
      this.heap.pop();
      if (this.isCurrent(top)) found.push(top);
    }
    for (const entry of found) this.heap.push(entry);
    return found.map(({ service, instance, lease }) => ({ service, instance, expiresAt: lease.expiresAt }));
  }

  async recordCheck(service: string, instance: string, result: CheckResult): Promise<void> {
    this.checkOpen();
    checkName('service', service);
    checkName('instance', instance);
    const copy = normalizeCheck(result);
    let checks = this.checks.get(service);
    if (!checks) {
      checks = new Map();
      this.checks.set(service, checks);
    }
    checks.set(instance, copy);
  }

  async checkResults(service: string): Promise<Map<string, CheckResult>> {
    this.checkOpen();
    checkName('service', service);
    return new Map(this.checks.get(service));
  }

  async now(): Promise<number> {
    this.checkOpen();
    return this.clock();
  }

  async generation(): Promise<Generation> {
    this.checkOpen();
    return this.currentGeneration;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.services.clear();
    this.checks.clear();
    this.heap.rebuild([]);
    this.leaseCount = 0;
  }

  private renew(service: string, instance: string, lease: Lease): Lease {
    let leases = this.services.get(service);
    if (!leases) {
      leases = new Map();
      this.services.set(service, leases);
    }
    if (!leases.has(instance)) this.leaseCount++;
    leases.set(instance, lease);
    this.heap.push({ service, instance, lease });
    this.compactIfSparse();
    return lease;
  }

  private isCurrent(entry: Entry): boolean {
    return this.services.get(entry.service)?.get(entry.instance) === entry.lease;
  }

  private compactIfSparse(): void {
    if (this.heap.size < COMPACT_MIN_ENTRIES || this.heap.size <= 2 * this.leaseCount) return;
    const live: Entry[] = [];
    for (const [service, leases] of this.services) {
      for (const [instance, lease] of leases) live.push({ service, instance, lease });
    }
    this.heap.rebuild(live);
  }

  private checkOpen(): void {
    if (this.closed) throw new HotStoreError('CLOSED', 'the hot store is closed');
  }
}
