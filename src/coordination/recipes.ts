import { ErrorCode, isStoreError } from './errors.js';
import { parentOf } from './paths.js';
import type { CoordinationStore, Op } from './store.js';

/**
 * Create `path` and any missing ancestors as empty persistent znodes (Curator's
 * `creatingParentsIfNeeded`). NODE_EXISTS is success: another replica may create the same
 * structure at the same time.
 */
export async function mkdirs(store: CoordinationStore, path: string): Promise<void> {
  if (path === '/' || (await store.exists(path))) return;
  await mkdirs(store, parentOf(path));
  try {
    await store.create(path);
  } catch (err) {
    if (!isStoreError(err, ErrorCode.NODE_EXISTS)) throw err;
  }
}

/**
 * The data of each child of `path`, by name in listing order. A child deleted between the listing
 * and its read is left out: a group or an election changes while it is read.
 */
export async function readChildren(store: CoordinationStore, path: string): Promise<Map<string, Buffer>> {
  const { children } = await store.getChildren(path);
  const read = await Promise.all(
    children.map((name) =>
      store.getData(`${path}/${name}`).then(
        (node) => [name, node.data] as const,
        () => undefined,
      ),
    ),
  );
  return new Map(read.filter((entry) => entry !== undefined));
}

/** How long a write keeps re-reading and retrying after losing races to other writers. */
const RACE_BUDGET_MS = 10_000;
/** Full-jitter back-off between attempts: up to 5 ms after the first loss, doubling to 250 ms. */
const BACKOFF_BASE_MS = 5;
const BACKOFF_CAP_MS = 250;

/** Whether `err` says a concurrent writer changed what an optimistic write had read. */
/** What `read` reads, or undefined when its znode does not exist. */
export async function orAbsent<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isStoreError(err, ErrorCode.NO_NODE)) return undefined;
    throw err;
  }
}

export function isRace(err: unknown): boolean {
  return (
    isStoreError(err, ErrorCode.BAD_VERSION) ||
    isStoreError(err, ErrorCode.NODE_EXISTS) ||
    isStoreError(err, ErrorCode.NO_NODE) ||
    isStoreError(err, ErrorCode.NOT_EMPTY)
  );
}

/**
 * Run an optimistic write (read, then a version-checked or create-only write) again when a
 * concurrent writer changed what it read: BAD_VERSION, NODE_EXISTS, NO_NODE or NOT_EMPTY.
 * Writers that keep colliding back off with full jitter (AWS's "Exponential Backoff and
 * Jitter"): immediate retries among N writers on one znode let only one in N through per round,
 * and a fixed attempt count then fails writers that nothing but bad luck kept out.
 */
export async function retryOnRace<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RACE_BUDGET_MS;
  for (let losses = 0; ; losses++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isRace(err) || Date.now() >= deadline) throw err;
    }
    // The first loss retries at once: one concurrent writer is the common case.
    if (losses > 0) {
      const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (losses - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * ceiling)));
    }
  }
}

/**
 * The `create` operations that make `path` and its missing ancestors, outermost first, for a
 * `multi` that must write nothing unless all of it succeeds (unlike {@link mkdirs}). A concurrent
 * creation of one of them fails the multi with NODE_EXISTS, which {@link retryOnRace} retries.
 */
export async function missingDirs(store: CoordinationStore, path: string): Promise<Op[]> {
  const ops: Op[] = [];
  for (let dir = path; dir !== '/' && !(await store.exists(dir)); dir = parentOf(dir)) {
    ops.unshift({ op: 'create', path: dir });
  }
  return ops;
}

/**
 * Runs tasks one at a time per key, in arrival order. Writers of one namespace on one replica
 * queue instead of racing each other through ZooKeeper's version checks; only writers on other
 * replicas still race, and {@link retryOnRace} settles those.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    // The last task of a key removes its entry, so idle keys hold no memory.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
