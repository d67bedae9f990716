/**
 * Authentication and authorization of every request, before anything reads a body or a cache.
 *
 * A route's schema declares what it requires (`x-zkgate-permission`, see permissions.ts). Routes
 * on named resources (namespaces, services) also say, in `config.access`, exactly which resource
 * and permission a request needs, computed from the same parsed parameters the handler uses; the
 * permission must be one the declaration lists, so the OpenAPI document cannot drift from what is
 * enforced. Routes on `operator` and `acl` need no more than the declaration.
 *
 * Identities are indexed by the digest of their secret and rebuilt whenever a token or policy
 * changes on any replica; open watch streams register here and close when their token is
 * revoked or expires.
 */
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ZkgError } from '../errors.js';
import { requirementsOf, type Requirement } from './permissions.js';
import {
  Authority,
  MANAGEMENT,
  type Permission,
  type Policy,
  type Resource,
  type ResourceKind,
} from './policy.js';
import type { AclCache } from './store.js';
import { bearerSecret, digestOf, isLive, sameDigest, type TokenRecord } from './tokens.js';

/** What one request needs: a permission on a resource, or on some name under a prefix (a listing). */
export type Need =
  | { readonly resource: Resource; readonly permission: Permission }
  | { readonly kind: 'config' | 'service'; readonly under: string; readonly permission: Permission };

/** Who a request is, for the whole request (and a watch stream's whole life). */
export interface Identity {
  readonly accessor: string;
  readonly description: string;
  readonly authority: Authority;
  /** Absent for anonymous requests and while auth is off. */
  readonly token?: TokenRecord;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request is, on every route that is not public (null on public ones). */
    identity: Identity;
  }
  interface FastifyContextConfig {
    /** The exact needs of a request on a route over named resources. */
    access?: (request: FastifyRequest) => readonly Need[];
    /** Set at registration by {@link AccessControl.plan}. */
    accessPlan?: AccessPlan;
  }
}

export interface AccessPlan {
  readonly requirements: readonly Requirement[];
  readonly access: ((request: FastifyRequest) => readonly Need[]) | undefined;
}

const AUTH_OFF: Identity = {
  accessor: 'auth-off',
  description: 'auth is off (ZKGATE_AUTH=off)',
  authority: new Authority([MANAGEMENT]),
};

/** Accepted Authorization headers remembered at most. */
const MEMO_LIMIT = 10_000;

/** The policy whose rules apply to requests without a token; empty unless an operator writes it. */
export const ANONYMOUS_POLICY = 'anonymous';

/** `config:team-a/app read`, as 403 details and denial logs name a need. */
function describe(need: Need): string {
  if ('under' in need) return `${need.kind}:${need.under}* ${need.permission}`;
  const { resource } = need;
  return `${'name' in resource ? `${resource.kind}:${resource.name}` : resource.kind} ${need.permission}`;
}

function kindOf(need: Need): ResourceKind {
  return 'under' in need ? need.kind : need.resource.kind;
}

export interface AccessLogger {
  warn(obj: object, msg: string): void;
}

export class AccessControl {
  private byDigest = new Map<string, Identity>();
  /** Authorization headers already accepted (see {@link authenticate}). */
  private readonly byHeader = new Map<string, Identity>();
  private anonymous: Identity = {
    accessor: 'anonymous',
    description: 'no token',
    authority: new Authority([]),
  };
  private readonly streams = new Map<() => void, Identity>();
  /** Why a request's credentials were refused, until {@link authorize} says so. */
  private readonly failures = new WeakMap<FastifyRequest, ZkgError>();
  private anonymousMayDoAnything = false;
  private expiryTimer: NodeJS.Timeout | undefined;
  private readonly stopListening: () => void;

  constructor(
    private readonly cache: AclCache,
    private readonly options: { readonly enabled: boolean; readonly logger: AccessLogger },
  ) {
    this.rebuild();
    this.stopListening = cache.onChange(() => {
      this.rebuild();
      this.closeRevoked();
    });
  }

  close(): void {
    this.stopListening();
    clearInterval(this.expiryTimer);
  }

  /**
   * The `onRoute` step: a route's plan from its declaration. A route over named resources that
   * does not say how to find them cannot be authorized, and stops the gateway at boot.
   */
  plan(route: RouteOptions): void {
    const requirements = requirementsOf(route);
    const access = route.config?.access;
    if (!access && requirements.some((r) => r.some((a) => a.kind === 'config' || a.kind === 'service'))) {
      throw new Error(`route ${String(route.method)} ${route.url} names resources but has no config.access`);
    }
    route.config = { ...route.config, accessPlan: { requirements, access } };
  }

  /**
   * The first `onRequest` step: who the request is. It never throws, so that a rate limit keyed
   * by identity can count a request before {@link authorize} refuses it: a bad token is charged
   * to its address, as anonymous.
   */
  identify(request: FastifyRequest, reply: FastifyReply): void {
    const plan = request.routeOptions.config.accessPlan;
    if (!this.options.enabled) void reply.header('x-zkgate-auth', 'off');
    // Unknown routes (404) and public ones need nobody.
    if (!plan || (plan.requirements.length === 0 && !plan.access)) return;
    try {
      request.identity = this.authenticate(request.headers.authorization);
    } catch (err) {
      request.identity = this.anonymous;
      this.failures.set(request, err as ZkgError);
    }
  }

  /** The last `onRequest` step: whether the request may do what it asks. */
  authorize(request: FastifyRequest, reply: FastifyReply): void {
    const plan = request.routeOptions.config.accessPlan;
    const identity = request.identity as Identity | null;
    if (!plan || !identity) return;
    const failure = this.failures.get(request);
    if (failure) throw failure;
    // An answer for one token must not be served from a shared cache to another.
    if (request.method === 'GET' || request.method === 'HEAD') void reply.header('cache-control', 'private');
    if (plan.access) {
      for (const need of this.needsOf(request, identity, plan.access)) {
        const declared = plan.requirements.some((r) =>
          r.some((a) => a.kind === kindOf(need) && a.anyOf.includes(need.permission)),
        );
        if (!declared) {
          // A route asking for what it does not declare is a bug, not the client's fault.
          throw new Error(
            `route ${request.routeOptions.url} needs ${describe(need)}, which it does not declare`,
          );
        }
        this.require(request, identity, need);
      }
      return;
    }
    for (const requirement of plan.requirements) {
      const needs: Need[] = requirement.flatMap(({ kind, anyOf }) =>
        anyOf.map((permission) => ({ resource: { kind } as Resource, permission })),
      );
      // `authenticated`: any identity but the anonymous one.
      if (needs.length === 0) {
        if (identity.accessor === 'anonymous') this.deny(request, identity, []);
        continue;
      }
      if (!needs.some((need) => this.allows(identity, need))) this.deny(request, identity, needs);
    }
  }

  /**
   * A route's needs for a request. A request without a token learns nothing about the API from
   * its answer (not even that a name is malformed) unless the anonymous policy could let it in.
   */
  private needsOf(
    request: FastifyRequest,
    identity: Identity,
    access: (request: FastifyRequest) => readonly Need[],
  ): readonly Need[] {
    const locked = identity.accessor === 'anonymous' && !this.anonymousMayDoAnything;
    let needs: readonly Need[];
    try {
      needs = access(request);
    } catch (err) {
      if (locked) this.deny(request, identity, []);
      throw err;
    }
    // Nothing named (a watch of nothing): the handler's refusal is for callers it could serve.
    if (needs.length === 0 && locked) this.deny(request, identity, []);
    return needs;
  }

  /** The key a request's rate limit counts under: its token, else its address. */
  rateKey(request: FastifyRequest): string {
    const identity = request.identity as Identity | null;
    return identity?.token ? `token:${identity.accessor}` : `address:${request.ip}`;
  }

  /** Whether the request's identity holds `permission` on `resource` (filters of listings and streams). */
  allows(identity: Identity, need: Need): boolean {
    if ('under' in need) return identity.authority.mayAnyUnder(need.kind, need.under, need.permission);
    return identity.authority.decide(need.resource, need.permission).allowed;
  }

  /** The identity as it is now: undefined once its token is revoked or expired. */
  current(identity: Identity): Identity | undefined {
    if (!identity.token) return identity.accessor === 'anonymous' ? this.anonymous : identity;
    const now = this.byDigest.get(identity.token.digest);
    return now && isLive(now.token as TokenRecord, Date.now()) ? now : undefined;
  }

  /**
   * Call `revoked` once the identity's token is revoked or expires (within a second of either);
   * returns the unsubscribe function. Streams ask for their identity's current rules with {@link current}.
   */
  onRevoked(identity: Identity, revoked: () => void): () => void {
    if (!identity.token) return () => undefined;
    this.streams.set(revoked, identity);
    if (identity.token.expiresAt !== undefined && !this.expiryTimer) {
      this.expiryTimer = setInterval(() => this.closeRevoked(), 1_000).unref();
    }
    return () => {
      this.streams.delete(revoked);
      if (this.streams.size === 0) {
        clearInterval(this.expiryTimer);
        this.expiryTimer = undefined;
      }
    };
  }

  private authenticate(authorization: string | undefined): Identity {
    if (!this.options.enabled) return AUTH_OFF;
    // Applications send the same header on every request: once it is known good, skip the
    // parse and the digest. Only accepted headers are remembered, the memo is emptied whenever a
    // token or policy changes, and bounded against a flood of distinct valid tokens.
    const known = authorization === undefined ? undefined : this.byHeader.get(authorization);
    if (known?.token && isLive(known.token, Date.now())) return known;
    const secret = bearerSecret(authorization);
    if (secret === undefined) return this.anonymous;
    const digest = digestOf(secret);
    const identity = this.byDigest.get(digest);
    if (!identity?.token || !sameDigest(identity.token.digest, digest)) {
      throw new ZkgError('ZKG_UNAUTHENTICATED', 'the token is unknown or was revoked');
    }
    if (!isLive(identity.token, Date.now()))
      throw new ZkgError('ZKG_UNAUTHENTICATED', 'the token has expired');
    if (this.byHeader.size >= MEMO_LIMIT) this.byHeader.clear();
    this.byHeader.set(authorization as string, identity);
    return identity;
  }

  private require(request: FastifyRequest, identity: Identity, need: Need): void {
    if (!this.allows(identity, need)) this.deny(request, identity, [need]);
  }

  private deny(request: FastifyRequest, identity: Identity, needs: readonly Need[]): never {
    const wanted = needs.length === 0 ? 'a token' : needs.map(describe).join(' or ');
    this.options.logger.warn(
      {
        accessor: identity.accessor,
        needs: wanted,
        method: request.method,
        url: request.url,
        address: request.ip,
        reqId: request.id,
      },
      'access denied',
    );
    if (identity.accessor === 'anonymous') {
      throw new ZkgError('ZKG_UNAUTHENTICATED', `a bearer token is required (this request needs ${wanted})`);
    }
    throw new ZkgError('ZKG_FORBIDDEN', `the token lacks ${wanted}`, {
      extensions: { needs: needs.map(describe) },
    });
  }

  private rebuild(): void {
    const policies = (names: readonly string[]): Policy[] =>
      names.flatMap((name) => {
        const policy = this.cache.policy(name);
        return policy ? [policy] : [];
      });
    const byDigest = new Map<string, Identity>();
    for (const token of this.cache.tokens()) {
      byDigest.set(token.digest, {
        accessor: token.accessor,
        description: token.description,
        authority: new Authority(policies(token.policies)),
        token,
      });
    }
    this.byDigest = byDigest;
    this.byHeader.clear();
    const anonymous = policies([ANONYMOUS_POLICY]);
    this.anonymous = { accessor: 'anonymous', description: 'no token', authority: new Authority(anonymous) };
    this.anonymousMayDoAnything = anonymous.length > 0;
  }

  private closeRevoked(): void {
    for (const [revoked, identity] of [...this.streams]) {
      if (this.current(identity) === undefined) {
        this.streams.delete(revoked);
        revoked();
      }
    }
  }
}
