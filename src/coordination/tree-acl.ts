/**
 * Which ACL each znode zkgate creates gets, decided by where it is rather than by the domain code
 * that creates it (which names none):
 * - with an identity (`ZKGATE_ZK_AUTH`), zkgate's own tree (`ZKGATE_ROOT` and below) is readable
 *   and writable by that identity only, so a plain ZooKeeper client can neither read tokens nor
 *   forge audit records or configuration;
 * - the services path (`ZKGATE_SERVICES_PATH` and below) gets `ZKGATE_SERVICES_ACL`, open by
 *   default: Curator and Spring Cloud Zookeeper apps register there with their own clients;
 * - anything else (the ancestors of either path) is open, as ZooKeeper's default is.
 * The most specific of the two paths wins where one lies inside the other.
 */
import { digestId, formatAcl, parseAcl, sameAcl } from './acl.js';
import { ErrorCode, isStoreError, StoreError } from './errors.js';
import {
  CREATOR_ALL_ACL,
  OPEN_ACL_UNSAFE,
  Perms,
  type Acl,
  type CoordinationStore,
  type StoreLogger,
} from './store.js';

export interface TreeAclOptions {
  /** zkgate's own tree. */
  readonly root: string;
  readonly servicesPath: string;
  /** `digest:user:password`, zkgate's identity; unset leaves zkgate's tree open. */
  readonly zkAuth: string | undefined;
  /** The services path's ACL in zkCli notation (see `parseAcl`), unset: open; `auth` entries need `zkAuth`. */
  readonly servicesAcl: string | undefined;
}

interface Rule {
  readonly path: string;
  readonly acl: readonly Acl[];
}

/**
 * Authenticate `store` as zkgate (when an identity is set), give an existing tree of zkgate's that
 * is still open the identity's ACL, and return the store with ACLs applied by path to every create
 * that names none.
 *
 * Turning the identity on for a deployment whose tree exists: every znode of the tree that the
 * identity's ACL does not already cover is given it, children before parents, with one log line,
 * so a start that dies half-way is finished by the next one (the root is done last and is what is
 * checked). A znode zkgate may not administer fails the start with NO_AUTH: its ACL was set by
 * someone else, and only they (or a ZooKeeper superuser) can open it.
 */
export async function protectTree(
  store: CoordinationStore,
  options: TreeAclOptions,
  logger: StoreLogger,
): Promise<CoordinationStore> {
  const servicesAcl = options.servicesAcl === undefined ? OPEN_ACL_UNSAFE : parseAcl(options.servicesAcl);
  const rules: Rule[] = [{ path: options.servicesPath, acl: servicesAcl }];
  if (options.zkAuth !== undefined) {
    const userPassword = options.zkAuth.slice('digest:'.length);
    await store.addAuth('digest', Buffer.from(userPassword, 'utf8'));
    const rootRule = { path: options.root, acl: CREATOR_ALL_ACL };
    rules.push(rootRule);
    const own: Acl[] = [{ perms: Perms.ALL, scheme: 'digest', id: digestId(userPassword) }];
    await secureExisting(store, rules, rootRule, own, logger);
  }
  return withDefaultAcls(store, rules);
}

/** The most specific rule covering `path`. */
function ruleFor(rules: readonly Rule[], path: string): Rule | undefined {
  let best: Rule | undefined;
  for (const rule of rules) {
    const covers = path === rule.path || path.startsWith(`${rule.path}/`);
    if (covers && (!best || rule.path.length > best.path.length)) best = rule;
  }
  return best;
}

/** The ACL a create under `path` gets when it names none. */
function aclFor(rules: readonly Rule[], path: string): readonly Acl[] {
  return ruleFor(rules, path)?.acl ?? OPEN_ACL_UNSAFE;
}

/** The store, with {@link aclFor} filled in on creates (alone or in a multi) that name no ACL. */
function withDefaultAcls(store: CoordinationStore, rules: readonly Rule[]): CoordinationStore {
  const overrides: Partial<CoordinationStore> = {
    create: (path, data, mode, acl) => store.create(path, data, mode, acl ?? aclFor(rules, path)),
    multi: (ops) =>
      store.multi(
        ops.map((op) => (op.op === 'create' && !op.acl ? { ...op, acl: aclFor(rules, op.path) } : op)),
      ),
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'create' || property === 'multi') return overrides[property];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** See {@link protectTree}; `own` is what the root rule's `auth` entry expands to. */
async function secureExisting(
  store: CoordinationStore,
  rules: readonly Rule[],
  rootRule: Rule,
  own: readonly Acl[],
  logger: StoreLogger,
): Promise<void> {
  const root = rootRule.path;
  let rootAcl: readonly Acl[];
  try {
    rootAcl = (await store.getACL(root)).acl;
  } catch (err) {
    if (isStoreError(err, ErrorCode.NO_NODE)) return;
    throw isStoreError(err, ErrorCode.NO_AUTH) ? notAdministrable(root) : err;
  }
  if (sameAcl(rootAcl, own)) return;
  logger.warn(
    { root, from: formatAcl(rootAcl), to: formatAcl(own) },
    "zkgate's tree is open to other ZooKeeper clients; giving every znode of it zkgate's ACL",
  );
  let changed = 0;
  // Depth first, children before their parent; subtrees another rule governs are left alone.
  const visit = async (path: string): Promise<void> => {
    try {
      const { children } = await store.getChildren(path);
      for (const child of children) {
        const childPath = `${path}/${child}`;
        if (ruleFor(rules, childPath) === rootRule) await visit(childPath);
      }
      const acl = path === root ? rootAcl : (await store.getACL(path)).acl;
      if (sameAcl(acl, own)) return;
      await store.setACL(path, own);
      changed++;
    } catch (err) {
      // Gone meanwhile (an ephemeral of a replica that stopped): nothing to protect.
      if (isStoreError(err, ErrorCode.NO_NODE)) return;
      throw isStoreError(err, ErrorCode.NO_AUTH) && err.path === path ? notAdministrable(path) : err;
    }
  };
  await visit(root);
  logger.info({ root, znodes: changed }, "zkgate's tree now carries zkgate's ACL");
}

function notAdministrable(path: string): StoreError {
  return new StoreError(
    ErrorCode.NO_AUTH,
    path,
    `NO_AUTH: ${path} has an ACL that does not let zkgate's identity read and administer it; ` +
      'change it with a client that may (zkCli setAcl), then start again',
  );
}
