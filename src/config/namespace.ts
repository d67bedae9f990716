/**
 * Configuration namespace names and where a namespace lives in ZooKeeper.
 *
 * A namespace is 1 to 8 segments joined by `/`, each `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. Its
 * document is the znode `<root>/config/<segments...>`, byte for byte, so a plain ZooKeeper client
 * reads it at the path it expects. Everything else about it is keyed by the *flat* name (`/`
 * replaced by `:`, which no segment may contain) in one directory per kind: a namespace `a/b` and
 * its child `a/b/3` can never collide with `a/b`'s release 3, and one getChildren lists them all.
 */
import { ZkgError } from '../errors.js';

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const MAX_SEGMENTS = 8;
/**
 * A whole valid name in one test, for the read path (every request parses one, some twice); the
 * segments are looked at one by one only to say what is wrong. `/` is outside a segment's
 * characters, so the match is linear.
 */
const NAMESPACE = new RegExp(
  `^${SEGMENT.source.slice(1, -1)}(?:/${SEGMENT.source.slice(1, -1)}){0,${MAX_SEGMENTS - 1}}$`,
);

/** Validate a namespace name; throws ZKG_NAMESPACE_INVALID naming what is wrong. */
export function parseNamespace(name: string): string {
  if (NAMESPACE.test(name)) return name;
  const segments = name.split('/');
  const fail = (why: string): never => {
    throw new ZkgError('ZKG_NAMESPACE_INVALID', `invalid namespace ${JSON.stringify(name)}: ${why}`);
  };
  if (name.length === 0) fail('empty');
  if (segments.length > MAX_SEGMENTS) fail(`more than ${MAX_SEGMENTS} segments`);
  for (const segment of segments) {
    if (segment === '') fail('empty segment');
    if (!SEGMENT.test(segment)) {
      fail(`segment ${JSON.stringify(segment)} must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}`);
    }
  }
  return name;
}

/** The namespace as one znode name. */
export function flatName(namespace: string): string {
  return namespace.replaceAll('/', ':');
}

export function fromFlatName(flat: string): string {
  return flat.replaceAll(':', '/');
}

/** Release numbers as znode names: fixed width, so they sort as numbers. */
export function releaseName(version: number): string {
  return String(version).padStart(10, '0');
}

/** The znodes of the config center under zkgate's root. */
export class ConfigLayout {
  /** Documents, hierarchical: `<root>/config/<segments...>`. */
  readonly documents: string;
  /** One metadata znode per namespace (format, schema, version base): its existence is the namespace's. */
  readonly meta: string;
  /** One directory per namespace holding its releases. */
  readonly history: string;
  /** Deletions remembered for resuming watchers; the directory's data is the pruning horizon (a zxid). */
  readonly tombstones: string;

  constructor(readonly root: string) {
    this.documents = `${root}/config`;
    this.meta = `${root}/meta/config`;
    this.history = `${root}/history/config`;
    this.tombstones = `${root}/tombstones/config`;
  }

  document(namespace: string): string {
    return `${this.documents}/${namespace}`;
  }

  metaOf(namespace: string): string {
    return `${this.meta}/${flatName(namespace)}`;
  }

  historyOf(namespace: string): string {
    return `${this.history}/${flatName(namespace)}`;
  }

  release(namespace: string, version: number): string {
    return `${this.historyOf(namespace)}/${releaseName(version)}`;
  }

  tombstoneOf(namespace: string): string {
    return `${this.tombstones}/${flatName(namespace)}`;
  }

  /** The directories that must exist before anything else works. */
  directories(): string[] {
    return [this.documents, this.meta, this.history, this.tombstones];
  }
}
