/**
 * Policies: what a token may do, in ZooKeeper's five permissions over zkgate's resources,
 * written the way Consul writes ACL rules.
 *
 * A policy's rules name a resource kind (`config`, `service`, `operator`, `acl`) and, for the
 * kinds with names, a prefix of the names (`team-a/`, or `""` for every name). Each rule grants
 * some of `create read write delete admin`, or denies everything. To decide a request, the rules
 * of all the token's policies for the request's resource are pooled; the longest matching prefix
 * decides alone (a more specific rule overrides a broader one, in both directions), and at that
 * prefix a deny beats any grant. Where no rule matches, the answer is no: default deny.
 */

/** ZooKeeper's permissions, in the order of its ACL bits. */
export const PERMISSIONS = ['read', 'write', 'create', 'delete', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Resource kinds whose rules are by name prefix. */
export const NAMED_KINDS = ['config', 'service'] as const;
/** Resource kinds that are one thing each. */
export const SINGLE_KINDS = ['operator', 'acl'] as const;
export type ResourceKind = (typeof NAMED_KINDS)[number] | (typeof SINGLE_KINDS)[number];

/** What a request acts on: a namespace, a service, the cluster's operations, or access control. */
export type Resource =
  { readonly kind: 'config' | 'service'; readonly name: string } | { readonly kind: 'operator' | 'acl' };

/** A rule's verdict: the permissions it grants, or `deny` for none at all. */
export type Grant = readonly Permission[] | 'deny';

/**
 * The rules of one policy, as stored and as the API takes them:
 * `{"config": {"team-a/": ["read"], "team-a/secrets/": "deny"}, "operator": ["read"]}`.
 */
export interface PolicyRules {
  readonly config?: Readonly<Record<string, Grant>>;
  readonly service?: Readonly<Record<string, Grant>>;
  readonly operator?: Grant;
  readonly acl?: Grant;
}

export interface Policy {
  readonly name: string;
  readonly description?: string;
  readonly rules: PolicyRules;
}

/** The decision on one permission, with what decided it (for 403 details and the denial log). */
export interface Decision {
  readonly allowed: boolean;
  /** The deciding rule's prefix (`""` for single resources); undefined when none matched. */
  readonly prefix: string | undefined;
}

/** Every permission on every resource. */
export const MANAGEMENT: Policy = {
  name: 'management',
  description: 'Every permission on every resource',
  rules: {
    config: { '': PERMISSIONS },
    service: { '': PERMISSIONS },
    operator: PERMISSIONS,
    acl: PERMISSIONS,
  },
};

/** Reads of every namespace and service, and of the cluster's state. */
export const READ_ONLY: Policy = {
  name: 'read-only',
  description: 'Read every namespace, service and the cluster state',
  rules: { config: { '': ['read'] }, service: { '': ['read'] }, operator: ['read'] },
};

export const BUILT_IN_POLICIES: ReadonlyMap<string, Policy> = new Map(
  [MANAGEMENT, READ_ONLY].map((policy) => [policy.name, policy]),
);

/**
 * The pooled rules of a set of policies, compiled for decisions: per named kind the prefixes
 * longest first, so a decision is one scan that stops at the first match.
 */
export class Authority {
  private readonly named = new Map<ResourceKind, Array<{ prefix: string; grant: Grant[] }>>();
  private readonly single = new Map<ResourceKind, Grant[]>();

  constructor(policies: Iterable<Policy>) {
    const byPrefix = new Map<ResourceKind, Map<string, Grant[]>>();
    for (const { rules } of policies) {
      for (const kind of NAMED_KINDS) {
        for (const [prefix, grant] of Object.entries(rules[kind] ?? {})) {
          const prefixes = byPrefix.get(kind) ?? new Map<string, Grant[]>();
          byPrefix.set(kind, prefixes);
          prefixes.set(prefix, [...(prefixes.get(prefix) ?? []), grant]);
        }
      }
      for (const kind of SINGLE_KINDS) {
        const grant = rules[kind];
        if (grant !== undefined) this.single.set(kind, [...(this.single.get(kind) ?? []), grant]);
      }
    }
    for (const [kind, prefixes] of byPrefix) {
      this.named.set(
        kind,
        [...prefixes]
          .map(([prefix, grant]) => ({ prefix, grant }))
          .sort((a, b) => b.prefix.length - a.prefix.length),
      );
    }
  }

  /** Whether `permission` on `resource` is granted. */
  decide(resource: Resource, permission: Permission): Decision {
    if (!('name' in resource)) {
      const grants = this.single.get(resource.kind);
      return grants
        ? { allowed: allows(grants, permission), prefix: '' }
        : { allowed: false, prefix: undefined };
    }
    const { name } = resource;
    for (const { prefix, grant } of this.named.get(resource.kind) ?? []) {
      if (name.startsWith(prefix)) return { allowed: allows(grant, permission), prefix };
    }
    return { allowed: false, prefix: undefined };
  }

  /**
   * Whether any name under `prefix` could be granted `permission`: a `prefix=` watch is allowed to
   * open when some of what it covers is readable, and then filters each event by {@link decide}.
   */
  mayAnyUnder(kind: 'config' | 'service', prefix: string, permission: Permission): boolean {
    if (this.decide({ kind, name: prefix }, permission).allowed) return true;
    return (this.named.get(kind) ?? []).some(
      (rule) => rule.prefix.startsWith(prefix) && allows(rule.grant, permission),
    );
  }
}

/** At one prefix: any deny wins, else any grant of the permission. */
function allows(grants: readonly Grant[], permission: Permission): boolean {
  if (grants.some((grant) => grant === 'deny')) return false;
  return grants.some((grant) => grant !== 'deny' && grant.includes(permission));
}
