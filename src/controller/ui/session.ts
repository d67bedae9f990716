/**
 * Who is signed in (`GET /v1/acl/whoami`) and what their policies allow, decided by the same
 * {@link Authority} the gateway uses, so the console offers exactly what the token may do. The
 * gateway still decides every call: a control shown by mistake gets a 403 screen, not a write.
 */
import { computed, signal } from '@preact/signals';
import { Authority, type Permission, type Policy, type Resource } from '../../acl/policy.js';
import { api } from './api.js';

export interface WhoAmI {
  readonly accessor: string;
  readonly description: string;
  readonly expiresAt?: string;
  readonly policies: Policy[];
}

export const whoami = signal<WhoAmI | null>(null);

const authority = computed(() => new Authority(whoami.value?.policies ?? []));

export function may(resource: Resource, permission: Permission): boolean {
  return authority.value.decide(resource, permission).allowed;
}

/** Whether some name under `prefix` may be granted the permission (what to offer in lists). */
export function mayUnder(kind: 'config' | 'service', prefix: string, permission: Permission): boolean {
  return authority.value.mayAnyUnder(kind, prefix, permission);
}

export async function loadWhoami(): Promise<WhoAmI> {
  const { data } = await api<WhoAmI>('/v1/acl/whoami');
  whoami.value = data;
  return data;
}
