/**
 * A service's revision, as the read model keeps it: what is visible of each instance (whether it
 * is healthy, its load report, the zxid of its registration's last write) and a digest over all of
 * them, the sum (mod 2^64) of one hash per instance. Sums are order-free and take a change back
 * out by subtraction, so one instance's change costs the same in a service of any size, and
 * replicas that see the same instances compute the same revision whatever order they saw them in.
 */
import { createHash } from 'node:crypto';
import type { InstanceEntry } from './cache.js';
import { aliveIn, type LeaseSnapshot } from './leases.js';

/** What a lease snapshot says of an instance: whether it is healthy, and its load report. */
export interface Judged {
  readonly healthy: boolean;
  /** The load report as JSON, compared as text. */
  readonly load: string | undefined;
}

interface Visible extends Judged {
  readonly hash: bigint;
}

const MASK = (1n << 64n) - 1n;

export function judge(entry: InstanceEntry, snapshot: LeaseSnapshot): Judged {
  const { instance } = entry;
  const healthy = instance.status === 'UP' && instance.enabled && aliveIn(snapshot, entry);
  const report = snapshot.leases?.get(instance.id)?.load;
  return { healthy, load: report === undefined ? undefined : JSON.stringify(report) };
}

export class VisibleInstances {
  private readonly items = new Map<string, Visible>();
  private digest = 0n;

  get(id: string): Judged | undefined {
    return this.items.get(id);
  }

  get healthy(): number {
    let healthy = 0;
    for (const item of this.items.values()) if (item.healthy) healthy++;
    return healthy;
  }

  /** Set what is visible of an instance (`entry` as `judged`), or forget it (no `entry`). */
  put(id: string, entry?: InstanceEntry, judged?: Judged): void {
    const before = this.items.get(id);
    if (before) this.digest = (this.digest - before.hash) & MASK;
    if (!entry || !judged) {
      this.items.delete(id);
      return;
    }
    const hash = createHash('sha1')
      .update(`${id}\n${entry.index}\n${judged.healthy ? 1 : 0}\n${judged.load ?? ''}`)
      .digest()
      .readBigUInt64BE(0);
    this.items.set(id, { ...judged, hash });
    this.digest = (this.digest + hash) & MASK;
  }

  /** The opaque entity tag of every instance, or of those listed in `ids` (quotes included). */
  tag(ids?: Iterable<string>): string {
    if (ids === undefined) return tagOf(this.items.size, this.digest);
    let count = 0;
    let digest = 0n;
    for (const id of ids) {
      count++;
      digest = (digest + (this.items.get(id)?.hash ?? 0n)) & MASK;
    }
    return tagOf(count, digest);
  }
}

function tagOf(count: number, digest: bigint): string {
  return `"${count.toString(36)}-${digest.toString(36)}"`;
}
