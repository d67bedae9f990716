/**
 * The embedded store's zxids, numbered as ZooKeeper numbers them: an epoch in the high 32 bits
 * and a counter in the low 32. A new epoch begins with every open, as ZooKeeper begins one with
 * every leader election, so that zxids of this run cannot be mistaken for those of a run that
 * was lost, say when the data directory is restored from a backup (see knowsZxid). Counting
 * epochs up by one would give the restored run the same epoch as a lost run that opened after
 * the backup; the opening second does not (a restore comes later than what it replaces), and
 * still counts up if the clock steps back.
 */

const EPOCH_SHIFT = 32n;
const COUNTER_MASK = (1n << EPOCH_SHIFT) - 1n;

/** Epochs count seconds from here: 2^31 of them (a signed 32-bit epoch) last until 2094. */
const EPOCH_ORIGIN_MS = Date.UTC(2026, 0, 1);

function epochOf(zxid: bigint): bigint {
  return zxid >> EPOCH_SHIFT;
}

/** The epoch a store opening at `ms` takes, unless its last one was already that or later. */
export function epochAt(ms: number): bigint {
  return BigInt(Math.max(0, Math.floor((ms - EPOCH_ORIGIN_MS) / 1000)));
}

/**
 * The zxid before the first transaction of a store opening at `nowMs` whose last transaction was
 * `lastZxid`. A fresh store stays in epoch 0, so its first zxids are 1, 2, ...
 */
export function epochStart(lastZxid: bigint, nowMs: number): bigint {
  if (lastZxid === 0n) return 0n;
  const next = epochOf(lastZxid) + 1n;
  const byClock = epochAt(nowMs);
  return (next > byClock ? next : byClock) << EPOCH_SHIFT;
}

/** Whether `zxid` comes right after `last`: the next one, or the first of a later epoch. */
export function follows(last: bigint, zxid: bigint): boolean {
  return zxid === last + 1n || (epochOf(zxid) > epochOf(last) && (zxid & COUNTER_MASK) === 1n);
}
