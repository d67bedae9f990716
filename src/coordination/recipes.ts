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
