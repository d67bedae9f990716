/**
 * What each route requires, declared next to its schema as `x-zkgate-permission` (so the OpenAPI
 * document shows it):
 * - `public`: no token (health, the API document);
 * - `authenticated`: any valid token, no permission (`whoami`);
 * - requirements separated by `, `, all needed (a watch of namespaces and services needs
 *   `config:read, service:read`); each is alternatives separated by ` or `, one of which suffices
 *   (`operator:read or acl:read`); each alternative a resource kind and the permissions of which
 *   one suffices (`config:create|write`: creating a namespace needs create, replacing one write).
 * A route registered without a valid declaration stops the gateway at boot, so no route can slip
 * through unauthorized by omission.
 */
import type { RouteOptions } from 'fastify';
import { PERMISSIONS, type Permission, type ResourceKind } from './policy.js';

export const PERMISSION_KEY = 'x-zkgate-permission';

const KINDS = ['config', 'service', 'operator', 'acl'] as const satisfies readonly ResourceKind[];

export interface Alternative {
  readonly kind: ResourceKind;
  /** Any one of these suffices. */
  readonly anyOf: readonly Permission[];
}

/** Alternatives of which one suffices; none at all means any identity will do. */
export type Requirement = readonly Alternative[];

/** A declaration's requirements; `public` is none. Throws on anything that is not a declaration. */
export function parseRequirements(declaration: unknown): readonly Requirement[] {
  if (declaration === 'public') return [];
  if (declaration === 'authenticated') return [[]];
  if (typeof declaration !== 'string' || declaration === '') throw new TypeError('no permission declared');
  return declaration.split(', ').map((requirement) =>
    requirement.split(' or ').map((part) => {
      const [kind, permissions = ''] = part.split(':');
      const anyOf = permissions.split('|');
      if (
        !(KINDS as readonly string[]).includes(kind ?? '') ||
        !anyOf.every((p) => (PERMISSIONS as readonly string[]).includes(p))
      ) {
        throw new TypeError(`${JSON.stringify(part)} is not kind:permission[|permission]`);
      }
      return { kind: kind as ResourceKind, anyOf: anyOf as Permission[] };
    }),
  );
}

/** A route's requirements; a route that declares none (or nonsense) cannot be registered. */
export function requirementsOf(route: RouteOptions): readonly Requirement[] {
  const declaration = (route.schema as Record<string, unknown> | undefined)?.[PERMISSION_KEY];
  try {
    return parseRequirements(declaration);
  } catch (err) {
    const method = Array.isArray(route.method) ? route.method.join(',') : route.method;
    throw new Error(
      `route ${method} ${route.url}: ${(err as Error).message} (${PERMISSION_KEY} in its schema)`,
      { cause: err },
    );
  }
}
