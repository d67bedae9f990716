/**
 * Services: instance counts by status, self-preservation; a service's instances with liveness,
 * lease, check verdict and latest probe, manual status and deregistration; its dispatch policy;
 * a dispatch preview that follows every change of the instance list.
 */
import { signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, query } from '../api.js';
import { STRATEGY_NAMES } from '../../../dispatcher/types.js';
import { ConfirmButton, ErrorPanel, Loaded, Time, useResource } from '../components.js';
import { liveInstances, serviceChanges } from '../live.js';
import type { CheckView, Instance, ServicePolicy, ServiceSummary, Status } from '../model.js';
import { may } from '../session.js';

/** The services the live stream watches: every one listed. */
export const watchedServices = signal<readonly string[]>([]);

const svcPath = (service: string) => `/v1/services/${encodeURIComponent(service)}`;

export function ServicesScreen({ service }: { service: string | undefined }) {
  const changes = serviceChanges.value;
  const list = useResource(() => api<ServiceSummary[]>('/v1/services'), [changes]);
  useEffect(() => {
    if (list.data) watchedServices.value = list.data.map((s) => s.service);
  }, [list.data]);
  return (
    <div class="split">
      <nav class="side" aria-label="Services">
        <Loaded resource={list} what="services">
          {(items) =>
            items.length === 0 ? (
              <p class="muted">No services registered.</p>
            ) : (
              <ul class="tree">
                {items.map((s) => (
                  <li key={s.service}>
                    <a
                      href={`#/services/${encodeURIComponent(s.service)}`}
                      aria-current={s.service === service ? 'page' : undefined}
                    >
                      <span class="name">{s.service}</span>
                      <span class="meta">
                        {s.healthy}/{s.instances} healthy · <span class="st-UP">UP {s.status.UP ?? 0}</span> ·{' '}
                        <span class="st-DOWN">DOWN {s.status.DOWN ?? 0}</span> ·{' '}
                        <span class="st-DRAINING">DRAINING {s.status.DRAINING ?? 0}</span>
                        {s.policy && (
                          <>
                            {' '}
                            · {s.policy.strategy} · protect below {s.policy.protectThreshold}
                          </>
                        )}
                        {s.selfPreservation && <span class="badge warn"> self-preservation</span>}
                      </span>
                    </a>
                  </li>
                ))}
              </ul>
            )
          }
        </Loaded>
      </nav>
      <section class="main">
        {service === undefined ? (
          <p class="muted">Select a service.</p>
        ) : (
          <Service
            key={service}
            service={service}
            summary={list.data?.find((s) => s.service === service)}
            onChanged={list.reload}
          />
        )}
      </section>
    </div>
  );
}

function Service(props: { service: string; summary?: ServiceSummary; onChanged: () => void }) {
  const { service, summary } = props;
  const changes = serviceChanges.value;
  const pushed = liveInstances.value.get(service);
  const fetched = useResource(
    (signal) => api<Instance[]>(`${svcPath(service)}/instances`, { signal }),
    [service],
  );
  const checks = useResource(
    (signal) => api<CheckView[]>(`${svcPath(service)}/checks`, { signal }),
    [service, changes],
  );
  const instances = pushed ? { ...fetched, data: [...pushed], error: undefined, stale: false } : fetched;
  const [outcome, setOutcome] = useState<ApiError | null>(null);
  const canOperate = may({ kind: 'operator' }, 'write');
  const canDelete = may({ kind: 'service', name: service }, 'delete');
  const act = async (path: string, method: string, body?: unknown) => {
    setOutcome(null);
    try {
      await api(path, { method, body });
      fetched.reload();
    } catch (err) {
      setOutcome(err as ApiError);
    }
  };
  const setStatus = (id: string, status: Status | null) =>
    act(
      `${svcPath(service)}/instances/${encodeURIComponent(id)}/status`,
      status ? 'PUT' : 'DELETE',
      status ? { status } : undefined,
    );
  return (
    <article aria-labelledby="svc-title">
      <header class="ns-header">
        <h2 id="svc-title">{service}</h2>
        {summary?.selfPreservation && (
          <p class="banner warn" role="status">
            Self-preservation since <Time iso={summary.selfPreservation.since} />:{' '}
            {summary.selfPreservation.reason}
            {canOperate && (
              <>
                {' '}
                <button type="button" onClick={() => act(`${svcPath(service)}:release`, 'POST')}>
                  Release
                </button>
              </>
            )}
          </p>
        )}
      </header>
      {outcome && <ErrorPanel error={outcome} what="the change" />}
      <Loaded resource={instances} what="instances">
        {(list) => (
          <div class="scroll">
            <table class="grid" data-testid="instances">
              <caption>Instances</caption>
              <thead>
                <tr>
                  <th scope="col">Id</th>
                  <th scope="col">Address</th>
                  <th scope="col">Zone</th>
                  <th scope="col">Weight</th>
                  <th scope="col">Status</th>
                  <th scope="col">Liveness</th>
                  <th scope="col">Lease expiry</th>
                  <th scope="col">Check</th>
                  <th scope="col">Metadata</th>
                  {(canOperate || canDelete) && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {[...list]
                  .sort((a, b) => a.id.localeCompare(b.id))
                  .map((i) => {
                    const check = checks.data?.find((c) => c.id === i.id);
                    return (
                      <tr key={i.id} data-instance={i.id}>
                        <th scope="row">{i.id}</th>
                        <td>
                          {i.address}
                          {i.port != null ? `:${i.port}` : ''}
                        </td>
                        <td>{i.zone ?? '—'}</td>
                        <td>{i.weight}</td>
                        <td>
                          <span class={`st-${i.status}`} data-field="status">
                            {i.status}
                          </span>
                          {i.manualStatus && <span class="muted"> (manual)</span>}
                          {!i.healthy && <span class="muted"> · not dispatched</span>}
                        </td>
                        <td>{i.liveness}</td>
                        <td>{i.liveness === 'lease' ? <Time iso={i.lease?.expiresAt} /> : 'session'}</td>
                        <td>
                          {i.checkStatus ?? check?.checkStatus ?? '—'}
                          {check?.last && (
                            <span class="muted">
                              {' '}
                              · {check.last.ok ? 'ok' : check.last.detail}{' '}
                              {check.last.latencyMs !== undefined && `${Math.round(check.last.latencyMs)} ms`}
                            </span>
                          )}
                        </td>
                        <td>
                          {Object.entries(i.metadata).map(([k, v]) => (
                            <code key={k} class="kv">
                              {k}={v}
                            </code>
                          ))}
                        </td>
                        {(canOperate || canDelete) && (
                          <td class="actions">
                            {canOperate &&
                              (['UP', 'DOWN', 'DRAINING'] as const).map((s) => (
                                <button
                                  key={s}
                                  type="button"
                                  aria-label={`mark ${i.id} ${s}`}
                                  aria-pressed={i.manualStatus === s}
                                  onClick={() => setStatus(i.id, s)}
                                >
                                  {s}
                                </button>
                              ))}
                            {canOperate && i.manualStatus && (
                              <button
                                type="button"
                                aria-label={`clear the manual status of ${i.id}`}
                                onClick={() => setStatus(i.id, null)}
                              >
                                Clear
                              </button>
                            )}
                            {canDelete && (
                              <ConfirmButton
                                label="Deregister…"
                                confirm="Confirm deregister"
                                ariaLabel={`deregister ${i.id}`}
                                onConfirm={() =>
                                  act(`${svcPath(service)}/instances/${encodeURIComponent(i.id)}`, 'DELETE')
                                }
                              />
                            )}
                          </td>
                        )}
                      </tr>
                    );
                  })}
              </tbody>
            </table>
          </div>
        )}
      </Loaded>
      <div class="columns">
        <DispatchPreview service={service} />
        {canOperate && summary?.policy && (
          <Policy service={service} current={summary.policy} onSaved={props.onChanged} />
        )}
      </div>
    </article>
  );
}

function DispatchPreview({ service }: { service: string }) {
  const [strategy, setStrategy] = useState('');
  const [key, setKey] = useState('');
  const [zone, setZone] = useState('');
  const changes = serviceChanges.value;
  const pick = useResource(
    (signal) =>
      api<Instance>(`/v1/dispatch/${encodeURIComponent(service)}${query({ strategy, key, zone })}`, {
        signal,
      }),
    [service, strategy, key, zone, changes],
  );
  return (
    <section class="panel" aria-labelledby="preview-title">
      <h3 id="preview-title">Dispatch preview</h3>
      <label class="field">
        <span>Strategy</span>
        <select
          aria-label="Dispatch strategy"
          value={strategy}
          onChange={(e) => setStrategy(e.currentTarget.value)}
        >
          <option value="">the service's</option>
          {STRATEGY_NAMES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <label class="field">
        <span>Key</span>
        <input value={key} onInput={(e) => setKey(e.currentTarget.value)} />
      </label>
      <label class="field">
        <span>Zone</span>
        <input value={zone} onInput={(e) => setZone(e.currentTarget.value)} />
      </label>
      <p aria-live="polite" data-testid="pick">
        {pick.loading && !pick.data && !pick.error ? (
          'Picking…'
        ) : pick.error && (pick.stale || !pick.data) ? (
          `No pick: ${pick.error.detail}`
        ) : pick.data ? (
          <>
            Pick: <strong data-field="pick">{pick.data.id}</strong> ({pick.data.address}
            {pick.data.port != null ? `:${pick.data.port}` : ''}
            {pick.data.zone ? `, zone ${pick.data.zone}` : ''})
          </>
        ) : (
          ''
        )}
      </p>
    </section>
  );
}

/** A share of a service's instances, 0 to 1; empty leaves the policy's value unset. */
function ShareField(props: { label: string; value: string; onInput: (value: string) => void }) {
  return (
    <label class="field">
      <span>{props.label}</span>
      <input
        type="number"
        min="0"
        max="1"
        step="0.05"
        value={props.value}
        onInput={(e) => props.onInput(e.currentTarget.value)}
      />
    </label>
  );
}

function Policy(props: { service: string; current: ServicePolicy; onSaved: () => void }) {
  const { service, current } = props;
  const [threshold, setThreshold] = useState(String(current.protectThreshold ?? ''));
  const [strategy, setStrategy] = useState(current.strategy ?? '');
  const [share, setShare] = useState(String(current.zoneMinHealthyShare ?? ''));
  const [outcome, setOutcome] = useState<string | ApiError | null>(null);
  const save = async (e: Event) => {
    e.preventDefault();
    const body: Record<string, unknown> = {};
    if (threshold !== '') body.protectThreshold = Number(threshold);
    if (strategy !== '') body.strategy = strategy;
    if (share !== '') body.zoneMinHealthyShare = Number(share);
    try {
      const { data } = await api<Record<string, unknown>>(`${svcPath(service)}`, { method: 'PUT', body });
      setOutcome(`Saved: ${JSON.stringify(data)}`);
      props.onSaved();
    } catch (err) {
      setOutcome(err as ApiError);
    }
  };
  return (
    <form class="panel" onSubmit={save} aria-labelledby="policy-title">
      <h3 id="policy-title">Service policy</h3>
      <ShareField label="Protection threshold (0–1)" value={threshold} onInput={setThreshold} />
      <label class="field">
        <span>Strategy</span>
        <select
          aria-label="Policy strategy"
          value={strategy}
          onChange={(e) => setStrategy(e.currentTarget.value)}
        >
          <option value="">gateway default</option>
          {STRATEGY_NAMES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
      </label>
      <ShareField label="Zone minimum healthy share (0–1)" value={share} onInput={setShare} />
      <button type="submit">Save policy</button>
      {typeof outcome === 'string' && (
        <p class="ok" role="status">
          {outcome}
        </p>
      )}
      {outcome instanceof ApiError && <ErrorPanel error={outcome} what="the policy" />}
    </form>
  );
}
