/**
 * What each route requires, declared next to its schema as `x-zkgate-permission` (so the OpenAPI
 * document shows it): `public`, or a resource kind and the permissions of which one suffices
 * (`config:create|write`: creating a namespace needs create, replacing one write), several
 * separated by `, ` when one request may name several resources (a watch of namespaces and
 * services). A route registered without a valid declaration stops the gateway at boot, so no
 * route can slip through unauthorized by omission.
 */
import type { RouteOptions } from 'fastify';
import { PERMISSIONS, type Permission, type ResourceKind } from './policy.js';

export const PERMISSION_KEY = 'x-zkgate-permission';

const KINDS = ['config', 'service', 'operator', 'acl'] as const satisfies readonly ResourceKind[];

export interface Requirement {
  readonly kind: ResourceKind;
  /** Any one of these suffices. */
  readonly anyOf: readonly Permission[];
}

/** A declaration's requirements; `public` is none. Throws on anything that is not a declaration. */
export function parseRequirements(declaration: unknown): readonly Requirement[] {
  if (declaration === 'public') return [];
  if (typeof declaration !== 'string' || declaration === '') throw new TypeError('no permission declared');
  return declaration.split(', ').map((part) => {
    const [kind, permissions = ''] = part.split(':');
    const anyOf = permissions.split('|');
    if (
      !(KINDS as readonly string[]).includes(kind ?? '') ||
      !anyOf.every((p) => (PERMISSIONS as readonly string[]).includes(p))
    ) {
      throw new TypeError(`${JSON.stringify(part)} is not kind:permission[|permission]`);
    }
    return { kind: kind as ResourceKind, anyOf: anyOf as Permission[] };
  });
}

/** An `onRoute` hook refusing routes that declare no permission. */
export function requireDeclaredPermission(route: RouteOptions): void {
  const declaration = (route.schema as Record<string, unknown> | undefined)?.[PERMISSION_KEY];
  try {
    parseRequirements(declaration);
  } catch (err) {
    const method = Array.isArray(route.method) ? route.method.join(',') : route.method;
    throw new Error(
      `route ${method} ${route.url}: ${(err as Error).message} (${PERMISSION_KEY} in its schema)`,
      { cause: err },
    );
  }
}
