/**
 * Tokens and policies as znodes under `<root>/acl/`, one JSON znode each:
 * `tokens/<accessor>` (a {@link TokenRecord}: the secret's digest, never the secret) and
 * `policies/<name>`. Every replica serves them from a view of the session's watched tree, so a
 * token created or revoked on one replica is known to every other within a watch round trip; the
 * replica that wrote waits for its own view before answering, so the token works at once.
 *
 * `bootstrapped` marks that the first management token was made: bootstrap happens once per
 * tree, whichever replica starts first (the marker and the token are one transaction), and
 * deleting every token afterwards does not mint a new one at the next start.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import { isRace, mkdirs } from '../coordination/recipes.js';
import type { Op } from '../coordination/store.js';
import { CacheView } from '../coordination/cache-view.js';
import type { CacheChange, WatchedTree } from '../coordination/watched-cache.js';
import { atStoreBoundary, optimisticWrite, ZkgError } from '../errors.js';
import { systemActor, type Actor } from './actor.js';
import { auditDirectory, auditOp, auditResource, type AuditAction } from './audit.js';
import { BUILT_IN_POLICIES, type Policy } from './policy.js';
import { newAccessor, newSecret, digestOf, type TokenRecord } from './tokens.js';

export interface AclChange extends CacheChange {
  readonly kind: 'acl';
}

function isAclChange(change: CacheChange): change is AclChange {
  return change.kind === 'acl';
}

type Directory = 'tokens' | 'policies';

/** One znode as read: its record, or its absence, with the zxid that made it so. */
type Staged = { readonly id: bigint; readonly value: unknown } | { readonly id: bigint; readonly gone: true };

export class AclLayout {
  readonly base: string;
  readonly tokens: string;
  readonly policies: string;
  readonly bootstrapped: string;

  constructor(root: string) {
    this.base = `${root}/acl`;
    this.tokens = `${this.base}/tokens`;
    this.policies = `${this.base}/policies`;
    this.bootstrapped = `${this.base}/bootstrapped`;
  }

  of(directory: Directory, name: string): string {
    return `${this[directory]}/${name}`;
  }
}

/** The watch-backed view of tokens and policies. */
export class AclCache extends CacheView<AclChange> {
  private readonly published: Record<Directory, Map<string, unknown>> = {
    tokens: new Map(),
    policies: new Map(),
  };
  private readonly staged = new Map<string, Staged>();
  private listed: Record<Directory, Set<string>> = { tokens: new Set(), policies: new Set() };

  constructor(
    tree: WatchedTree<CacheChange>,
    private readonly layout: AclLayout,
  ) {
    super(tree, isAclChange);
  }

  tokens(): TokenRecord[] {
    return [...this.published.tokens.values()] as TokenRecord[];
  }

  token(accessor: string): TokenRecord | undefined {
    return this.published.tokens.get(accessor) as TokenRecord | undefined;
  }

  /** Stored policies; the built-in ones are not stored. */
  policies(): Policy[] {
    return [...this.published.policies.values()] as Policy[];
  }

  /** A built-in or stored policy. */
  policy(name: string): Policy | undefined {
    return BUILT_IN_POLICIES.get(name) ?? (this.published.policies.get(name) as Policy | undefined);
  }

  resync(): void {
    this.listed = { tokens: new Set(), policies: new Set() };
    for (const directory of ['tokens', 'policies'] as const) {
      this.tree.load(`acl:${directory}`, () => this.list(directory));
      for (const name of this.published[directory].keys()) this.loadItem(directory, name);
    }
  }

  private async list(directory: Directory): Promise<void> {
    const key = `acl:${directory}`;
    const names = await this.tree.childrenOrCreate(
      this.layout[directory],
      this.tree.watcherFor(key, () => this.list(directory)),
    );
    const listed = new Set(names);
    for (const name of listed) if (!this.listed[directory].has(name)) this.loadItem(directory, name, key);
    for (const name of this.published[directory].keys())
      if (!listed.has(name)) this.loadItem(directory, name, key);
    this.listed[directory] = listed;
  }

  private loadItem(directory: Directory, name: string, parent?: string): void {
    const key = `acl:${directory}/${name}`;
    this.tree.load(key, () => this.readItem(directory, name), parent);
  }

  private async readItem(directory: Directory, name: string): Promise<void> {
    const key = `acl:${directory}/${name}`;
    const path = this.layout.of(directory, name);
    try {
      const node = await this.store.getData(
        path,
        this.tree.watcherFor(key, () => this.readItem(directory, name)),
      );
      this.tree.observe(node.stat);
      this.staged.set(key, { id: node.stat.mzxid, value: JSON.parse(node.data.toString('utf8')) });
    } catch (err) {
      if (isStoreError(err, ErrorCode.NO_NODE)) {
        this.staged.set(key, { id: await this.tree.absence(path), gone: true });
        return;
      }
      if (err instanceof SyntaxError) {
        // Not zkgate's: ignored rather than trusted, and it cannot stop the cache either.
        this.logger.warn({ path }, 'ignoring a malformed ACL znode');
        return;
      }
      throw err;
    }
  }

  collect(covered: (id: bigint) => boolean): AclChange[] {
    const changes: AclChange[] = [];
    for (const [key, staged] of this.staged) {
      if (!covered(staged.id)) continue;
      this.staged.delete(key);
      const [directory, name] = key.slice('acl:'.length).split('/') as [Directory, string];
      if ('gone' in staged) {
        if (!this.published[directory].delete(name)) continue;
        this.tree.forgetWatcher(key);
      } else {
        this.published[directory].set(name, staged.value);
      }
      changes.push({ kind: 'acl', id: staged.id });
    }
    return changes;
  }
}

/** A token as the API shows it: everything but the digest. */
export type TokenView = Omit<TokenRecord, 'digest'>;

export function tokenView({ digest: _digest, ...view }: TokenRecord): TokenView {
  return view;
}

export interface NewToken {
  readonly description: string;
  readonly policies: readonly string[];
  readonly expiresAt?: number;
}

/** Writes of tokens and policies; reads come from {@link AclCache}. */
export class AclService {
  readonly cache: AclCache;
  readonly layout: AclLayout;

  constructor(
    private readonly tree: WatchedTree<CacheChange>,
    private readonly root: string,
  ) {
    this.layout = new AclLayout(root);
    this.cache = new AclCache(tree, this.layout);
  }

  private get store() {
    return this.tree.store;
  }

  async start(): Promise<void> {
    await mkdirs(this.store, this.layout.tokens);
    await mkdirs(this.store, this.layout.policies);
    await mkdirs(this.store, auditDirectory(this.root));
  }

  /**
   * The first management token, made when the tree was never bootstrapped. Resolves with the
   * token, or undefined when another replica (or an earlier start) did it.
   */
  async bootstrap(secret: string): Promise<TokenRecord | undefined> {
    if (await this.store.exists(this.layout.bootstrapped)) return undefined;
    const token: TokenRecord = {
      accessor: newAccessor(),
      digest: digestOf(secret),
      description: 'bootstrap management token',
      policies: ['management'],
      createdBy: 'bootstrap',
      createdAt: Date.now(),
    };
    try {
      await this.store.multi([
        { op: 'create', path: this.layout.bootstrapped, data: Buffer.from(token.accessor) },
        this.tokenOp(token),
        this.audited(
          systemActor('bootstrap'),
          'acl.token.create',
          auditResource.token(token.accessor),
          null,
          0,
        ),
      ]);
    } catch (err) {
      if (isStoreError(err, ErrorCode.NODE_EXISTS)) return undefined;
      throw err;
    }
    await this.settle(this.layout.tokens);
    return token;
  }

  /** A new token and its secret, which is never stored and cannot be read again. */
  async createToken(actor: Actor, request: NewToken): Promise<{ token: TokenRecord; secret: string }> {
    this.assertPolicies(request.policies);
    if (request.expiresAt !== undefined && request.expiresAt <= Date.now()) {
      throw new ZkgError('ZKG_VALIDATION_FAILED', 'expiresAt must be in the future');
    }
    const { secret, digest } = newSecret();
    const token: TokenRecord = {
      accessor: newAccessor(),
      digest,
      description: request.description,
      policies: [...new Set(request.policies)],
      ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt }),
      createdBy: actor.accessor,
      createdAt: Date.now(),
    };
    await atStoreBoundary(`token ${token.accessor}`, async () => {
      await this.store.multi([
        this.tokenOp(token),
        this.audited(actor, 'acl.token.create', auditResource.token(token.accessor), null, 0),
      ]);
      await this.settle(this.layout.tokens);
    });
    return { token, secret };
  }

  async deleteToken(actor: Actor, accessor: string): Promise<TokenRecord> {
    const token = this.cache.token(accessor);
    if (!token) throw new ZkgError('ZKG_TOKEN_NOT_FOUND', `no token ${accessor}`);
    await this.remove(actor, 'tokens', accessor);
    return token;
  }

  /** Create or replace a stored policy; resolves true when it was created. */
  async putPolicy(actor: Actor, policy: Policy): Promise<boolean> {
    if (BUILT_IN_POLICIES.has(policy.name)) {
      throw new ZkgError('ZKG_POLICY_BUILT_IN', `${policy.name} is a built-in policy and cannot change`);
    }
    const path = this.layout.of('policies', policy.name);
    const data = Buffer.from(JSON.stringify(policy));
    const resource = auditResource.policy(policy.name);
    return atStoreBoundary(`policy ${policy.name}`, async () => {
      const before = await this.store.exists(path);
      const op: Op = before
        ? { op: 'setData', path, data, version: before.version }
        : { op: 'create', path, data };
      try {
        await this.store.multi([
          op,
          this.audited(
            actor,
            'acl.policy.put',
            resource,
            before?.version ?? null,
            before ? before.version + 1 : 0,
          ),
        ]);
      } catch (err) {
        // Written elsewhere meanwhile: the versions in the record would be wrong; the caller retries.
        if (isRace(err)) {
          throw new ZkgError('ZKG_WRITE_CONTENDED', `policy ${policy.name} changed meanwhile`, {
            retryAfter: 1,
          });
        }
        throw err;
      }
      const stat = await this.store.exists(path);
      await this.tree.acknowledge(stat?.mzxid ?? 0n);
      return before === null;
    });
  }

  async deletePolicy(actor: Actor, name: string): Promise<Policy> {
    if (BUILT_IN_POLICIES.has(name)) {
      throw new ZkgError('ZKG_POLICY_BUILT_IN', `${name} is a built-in policy and cannot be deleted`);
    }
    const policy = this.cache.policy(name);
    if (!policy) throw new ZkgError('ZKG_POLICY_NOT_FOUND', `no policy ${name}`);
    await this.remove(actor, 'policies', name);
    return policy;
  }

  /**
   * Delete a token or policy, version-checked so that the record names the version removed, and
   * again if it changed meanwhile; one deleted meanwhile elsewhere is just as gone (and not
   * recorded twice).
   */
  private async remove(actor: Actor, directory: Directory, name: string): Promise<void> {
    const path = this.layout.of(directory, name);
    const [action, resource, what]: [AuditAction, string, string] =
      directory === 'tokens'
        ? ['acl.token.delete', auditResource.token(name), `token ${name}`]
        : ['acl.policy.delete', auditResource.policy(name), `policy ${name}`];
    await optimisticWrite(what, async () => {
      const stat = await this.store.exists(path);
      if (stat) {
        await this.store.multi([
          { op: 'delete', path, version: stat.version },
          this.audited(actor, action, resource, stat.version, null),
        ]);
      }
      await this.settle(this.layout[directory]);
    });
  }

  /** The record of a change, in the change's own transaction. */
  private audited(
    actor: Actor,
    action: AuditAction,
    resource: string,
    before: number | null,
    after: number | null,
  ): Op {
    return auditOp(this.root, actor, { action, resource, versionBefore: before, versionAfter: after });
  }

  private tokenOp(token: TokenRecord): Op {
    return {
      op: 'create',
      path: this.layout.of('tokens', token.accessor),
      data: Buffer.from(JSON.stringify(token)),
    };
  }

  private assertPolicies(names: readonly string[]): void {
    const unknown = names.filter((name) => this.cache.policy(name) === undefined);
    if (unknown.length > 0) {
      const names = unknown.map((n) => JSON.stringify(n)).join(', ');
      throw new ZkgError('ZKG_VALIDATION_FAILED', `no policy ${names}`);
    }
  }

  /** Answer once this replica's view shows the last change of a directory's children. */
  private async settle(directory: string): Promise<void> {
    const stat = await this.store.exists(directory);
    await this.tree.acknowledge(stat?.pzxid ?? 0n);
  }
}
