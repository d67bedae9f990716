/**
 * Every znode under a path with its data version and child version, to check that a refused
 * request wrote nothing: compare two listings taken around it.
 */
import type { CoordinationStore } from '../../src/coordination/store.js';

export async function listZnodes(store: CoordinationStore, path: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (at: string): Promise<void> => {
    const { children, stat } = await store.getChildren(at);
    found.set(at, `v${stat.version} c${stat.cversion}`);
    for (const child of children) await walk(at === '/' ? `/${child}` : `${at}/${child}`);
  };
  await walk(path);
  return found;
}
