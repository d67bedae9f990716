/**
 * The one live stream of the console: `GET /v1/watch` over Server-Sent Events, for every
 * namespace the token may read (`prefix=`) and every service listed, multiplexed. The browser's
 * own EventSource cannot send a bearer header, so the `eventsource` package (fetch-based, same
 * resume semantics: it reconnects with Last-Event-ID) carries it.
 *
 * Service events: `instances` replaces a service's whole list, `instance` upserts one,
 * `instance-removed` deletes one, `self-preservation` refreshes the summaries that show holds;
 * unknown event types are ignored, so a newer gateway can add some.
 */
import { batch, signal } from '@preact/signals';
import { EventSource } from 'eventsource';
import { authorization, signOut, token } from './api.js';
import { applyServiceEvent, type Instance, type ServiceEvent } from './model.js';

export interface LiveDocument {
  readonly namespace: string;
  readonly version: number;
  readonly index: string;
  readonly format: string;
  readonly content: string;
}

export type LiveState = 'connecting' | 'open' | 'retrying' | 'off';

export const liveState = signal<LiveState>('off');
/** The newest published state of each namespace the stream has told about. */
export const liveDocs = signal<ReadonlyMap<string, LiveDocument>>(new Map());
/** Bumped on every config change or deletion: listings refresh on it. */
export const configChanges = signal(0);
export const liveInstances = signal<ReadonlyMap<string, readonly Instance[]>>(new Map());
/** Bumped on every service event: summaries and previews refresh on it. */
export const serviceChanges = signal(0);

let source: EventSource | null = null;
let opened = '';

/** (Re)opens the stream for these subjects, unless it is already open for them. */
export function watch(options: { config: boolean; services: readonly string[] }): void {
  const params = new URLSearchParams();
  if (options.config) params.append('prefix', '');
  for (const service of [...options.services].sort()) params.append('service', service);
  const url = `/v1/watch?${params.toString()}`;
  if (url === opened && source !== null) return;
  stopWatching();
  if (params.size === 0) return;
  opened = url;
  liveState.value = 'connecting';
  const secret = token.value;
  const stream = new EventSource(url, {
    fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...authorization() } }),
  });
  source = stream;
  stream.onopen = () => (liveState.value = 'open');
  stream.onerror = (event) => {
    if (event.code === 401 && token.value === secret) signOut('Your session ended: the token was refused.');
    liveState.value = stream.readyState === EventSource.CLOSED ? 'off' : 'retrying';
  };
  stream.addEventListener('config', (e) => {
    const doc = JSON.parse(e.data) as LiveDocument;
    batch(() => {
      liveDocs.value = new Map(liveDocs.value).set(doc.namespace, doc);
      configChanges.value++;
    });
  });
  stream.addEventListener('config-deleted', (e) => {
    const { namespace } = JSON.parse(e.data) as { namespace: string };
    const docs = new Map(liveDocs.value);
    docs.delete(namespace);
    batch(() => {
      liveDocs.value = docs;
      configChanges.value++;
    });
  });
  stream.addEventListener('reset', (e) => {
    const { namespaces } = JSON.parse(e.data) as { namespaces: string[] };
    const keep = new Set(namespaces);
    batch(() => {
      liveDocs.value = new Map([...liveDocs.value].filter(([ns]) => keep.has(ns)));
      configChanges.value++;
    });
  });
  const updateService = (type: string, data: string) => {
    const event = JSON.parse(data) as ServiceEvent;
    batch(() => {
      const all = new Map(liveInstances.value);
      all.set(event.service, applyServiceEvent(all.get(event.service) ?? [], type, event));
      liveInstances.value = all;
      serviceChanges.value++;
    });
  };
  for (const type of ['instances', 'instance', 'instance-removed'])
    stream.addEventListener(type, (e) => updateService(type, e.data));
  // A hold that begins or ends changes no instance: summaries must refresh on it by themselves.
  stream.addEventListener('self-preservation', () => serviceChanges.value++);
  stream.addEventListener('revoked', () =>
    signOut('Your session ended: the token was revoked or has expired.'),
  );
}

export function stopWatching(): void {
  source?.close();
  source = null;
  opened = '';
  liveState.value = 'off';
}
