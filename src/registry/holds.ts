/**
 * Self-preservation holds, shared by every replica. The elected reaper decides which services are
 * held back (too many of their leases ran out at once) and publishes them in one znode,
 * `<root>/reaper/holds`, written only when the set changes and behind the election's fence; every
 * replica reads it with a watch, so any of them can say which services are held, since when and
 * why, and a new leader carries on the holds of the last one (their `since` included).
 *
 * An operator releases a service by creating `<root>/reaper/releases/<service>` on any replica
 * (in one transaction with its audit record); the leader's next sweep evicts what ran out in that
 * service and removes the marker.
 */
import { auditOp, auditResource } from '../acl/audit.js';
import type { Actor } from '../acl/actor.js';
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import { mkdirs } from '../coordination/recipes.js';
import type { CoordinationStore, Op, StoreLogger } from '../coordination/store.js';

const RETRY_MS = 1_000;

export interface Hold {
  /** When the hold began, on the hot store's clock (ms). */
  readonly since: number;
  readonly reason: string;
}

export class Holds {
  private readonly path: string;
  private readonly releasesPath: string;
  private current: ReadonlyMap<string, Hold> = new Map();
  private readonly listeners = new Set<(services: ReadonlySet<string>) => void>();
  private closed = false;
  private readonly stopSession: () => void;
  private readonly watcher = (): void => void this.read();

  constructor(
    private readonly store: CoordinationStore,
    private readonly root: string,
    private readonly logger: StoreLogger,
  ) {
    this.path = `${root}/reaper/holds`;
    this.releasesPath = `${root}/reaper/releases`;
    // A new session has none of the old one's watches.
    this.stopSession = store.onStateChange((event) => {
      if (event.state === 'connected' && event.newSession) void this.read();
    });
  }

  async start(): Promise<void> {
    await mkdirs(this.store, this.releasesPath);
    try {
      await this.store.create(this.path, Buffer.from('{}'));
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NODE_EXISTS)) throw err;
    }
    await this.read();
  }

  close(): void {
    this.closed = true;
    this.stopSession();
    this.listeners.clear();
  }

  /** Called with the services whose hold began, ended or changed; returns the unsubscribe function. */
  onChange(listener: (services: ReadonlySet<string>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The services held back, as the leader last published them. */
  all(): ReadonlyMap<string, Hold> {
    return this.current;
  }

  get(service: string): Hold | undefined {
    return this.current.get(service);
  }

  /** Publish the leader's holds (when they changed); the multi fails unless `fence` holds. */
  async publish(holds: ReadonlyMap<string, Hold>, fence: Op): Promise<void> {
    if (same(holds, this.current)) return;
    await this.store.multi([fence, { op: 'setData', path: this.path, data: encode(holds) }]);
    this.apply(new Map(holds));
  }

  /** An operator's release of a held service, for the leader's next sweep. */
  async requestRelease(actor: Actor, service: string): Promise<void> {
    try {
      await this.store.multi([
        { op: 'create', path: `${this.releasesPath}/${service}` },
        auditOp(this.root, actor, {
          action: 'service.release',
          resource: auditResource.service(service),
          versionBefore: null,
          versionAfter: null,
        }),
      ]);
    } catch (err) {
      // Asked for already: one release does it.
      if (!isStoreError(err, ErrorCode.NODE_EXISTS)) throw err;
    }
  }

  /** Services an operator released since the last sweep. */
  async releases(): Promise<Set<string>> {
    return new Set((await this.store.getChildren(this.releasesPath)).children);
  }

  /** The leader applied a release: remove its marker. */
  async released(service: string, fence: Op): Promise<void> {
    try {
      await this.store.multi([fence, { op: 'delete', path: `${this.releasesPath}/${service}` }]);
    } catch (err) {
      if (!isStoreError(err, ErrorCode.NO_NODE)) throw err;
    }
  }

  private apply(next: ReadonlyMap<string, Hold>): void {
    const changed = new Set<string>();
    for (const service of new Set([...this.current.keys(), ...next.keys()])) {
      if (!sameHold(this.current.get(service), next.get(service))) changed.add(service);
    }
    this.current = next;
    if (changed.size > 0) for (const listener of [...this.listeners]) listener(changed);
  }

  private async read(): Promise<void> {
    if (this.closed) return;
    try {
      const { data } = await this.store.getData(this.path, this.watcher);
      this.apply(decode(data));
    } catch (err) {
      if (this.closed) return;
      // No watch was set: read again shortly (a lost connection, a hand-edited znode).
      this.logger.warn({ err, path: this.path }, 'self-preservation holds not read; retrying');
      setTimeout(this.watcher, RETRY_MS).unref();
    }
  }
}

function encode(holds: ReadonlyMap<string, Hold>): Buffer {
  return Buffer.from(JSON.stringify(Object.fromEntries(holds)));
}

function decode(data: Buffer): ReadonlyMap<string, Hold> {
  const parsed = JSON.parse(data.toString('utf8')) as Record<string, Hold>;
  return new Map(
    Object.entries(parsed).filter(
      ([, hold]) => Number.isFinite(hold?.since) && typeof hold.reason === 'string',
    ),
  );
}

function sameHold(a: Hold | undefined, b: Hold | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.since === b.since && a.reason === b.reason);
}

function same(a: ReadonlyMap<string, Hold>, b: ReadonlyMap<string, Hold>): boolean {
  if (a.size !== b.size) return false;
  for (const [service, hold] of a) if (!sameHold(hold, b.get(service))) return false;
  return true;
}
