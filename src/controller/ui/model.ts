/** What the API answers, as the console reads it (see openapi/openapi.json). */
export type Format = 'json' | 'yaml' | 'properties' | 'text';
export type Status = 'UP' | 'DOWN' | 'DRAINING';

export interface ConfigSummary {
  readonly namespace: string;
  readonly version: number;
  readonly index: string;
  readonly format: Format;
  readonly modified: string;
  readonly watchers?: number;
}

export interface Release {
  readonly version: number;
  readonly format: Format;
  readonly author?: string;
  readonly comment?: string;
  readonly time: string;
  readonly size: number;
}

export interface Instance {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port?: number | null;
  readonly weight: number;
  readonly zone?: string;
  readonly status: Status;
  readonly manualStatus?: Status;
  readonly checkStatus?: 'UP' | 'DOWN';
  readonly healthy: boolean;
  readonly liveness: 'lease' | 'session';
  readonly metadata: Record<string, string>;
  readonly lease?: { readonly expiresAt?: string };
  readonly index: string;
}

export interface CheckView {
  readonly id: string;
  readonly check: Record<string, unknown>;
  readonly checkStatus?: 'UP' | 'DOWN';
  readonly last?: { ok?: boolean; at?: string; latencyMs?: number; detail?: string; by?: string };
}

export interface ServicePolicy {
  readonly protectThreshold?: number;
  readonly strategy?: string;
  readonly zoneMinHealthyShare?: number;
}

export interface ServiceSummary {
  readonly service: string;
  readonly instances: number;
  readonly healthy: number;
  readonly status: Partial<Record<Status, number>>;
  readonly index: string;
  readonly policy?: ServicePolicy;
  readonly selfPreservation?: { since: string; reason: string };
}

/** A service event of the watch stream: a whole list, one instance upserted, or one removed. */
export type ServiceEvent =
  | { readonly service: string; readonly instances: readonly Instance[] }
  | { readonly service: string; readonly instance: Instance }
  | { readonly service: string; readonly id: string };

/**
 * A service's instance list after one event: `instances` replaces it, `instance` upserts one,
 * `instance-removed` deletes one; any other type leaves it as it was.
 */
export function applyServiceEvent(
  list: readonly Instance[],
  type: string,
  event: ServiceEvent,
): readonly Instance[] {
  if (type === 'instances' && 'instances' in event) return event.instances;
  if (type === 'instance' && 'instance' in event) {
    const { instance } = event;
    return list.some((i) => i.id === instance.id)
      ? list.map((i) => (i.id === instance.id ? instance : i))
      : [...list, instance];
  }
  if (type === 'instance-removed' && 'id' in event) return list.filter((i) => i.id !== event.id);
  return list;
}
