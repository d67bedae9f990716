import { ErrorCode, isStoreError } from './errors.js';
import { parentOf } from './paths.js';
import type { CoordinationStore } from './store.js';

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

/** How often a write re-reads and retries after losing a race to another writer. */
const MAX_ATTEMPTS = 8;

/**
 * Run an optimistic write (read, then a version-checked or create-only write) again when a
 * concurrent writer changed what it read: BAD_VERSION, NODE_EXISTS, NO_NODE or NOT_EMPTY.
 */
export async function retryOnRace<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (err) {
      const raced =
        isStoreError(err, ErrorCode.BAD_VERSION) ||
        isStoreError(err, ErrorCode.NODE_EXISTS) ||
        isStoreError(err, ErrorCode.NO_NODE) ||
        isStoreError(err, ErrorCode.NOT_EMPTY);
      if (!raced || i >= MAX_ATTEMPTS) throw err;
    }
  }
}
