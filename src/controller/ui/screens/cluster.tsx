/** The cluster as `GET /v1/cluster` reports it, refreshed every two seconds. */
import { useEffect } from 'preact/hooks';
import { api } from '../api.js';
import { Loaded, useResource } from '../components.js';

interface ZkServer {
  address: string;
  reachable: boolean;
  mode?: string;
  latencyMs?: { min?: number; avg?: number; max?: number };
  znodes?: number;
  watches?: number;
  connections?: number;
  zxid?: string;
  error?: string;
}

interface Cluster {
  zookeeper: { kind: string; state?: string; sessionId?: string; servers?: ZkServer[] };
  gateways: {
    self?: string;
    leader?: string | null;
    replicas?: { id: string; leader?: boolean; self?: boolean }[];
  };
  hotStore: { kind?: string; state?: string };
  scanner: { active?: boolean; owned?: number; running?: number; queued?: number };
  reaper: Record<string, unknown>;
}

const CLUSTER_REFRESH_MS = 2_000;

const ms = (value: number | undefined): string => (value === undefined ? '–' : value.toFixed(1));

export function ClusterScreen() {
  const cluster = useResource((signal) => api<Cluster>('/v1/cluster', { signal }), []);
  useEffect(() => {
    const timer = setInterval(cluster.reload, CLUSTER_REFRESH_MS);
    return () => clearInterval(timer);
  }, [cluster.reload]);
  return (
    <section class="main" aria-labelledby="cluster-title">
      <h2 id="cluster-title">Cluster</h2>
      <Loaded resource={cluster} what="the cluster state">
        {(c) => (
          <>
            <h3>
              ZooKeeper ({c.zookeeper.kind}, {c.zookeeper.state ?? 'unknown'})
            </h3>
            <div class="scroll">
              <table class="grid" data-testid="zk-servers">
                <thead>
                  <tr>
                    <th scope="col">Server</th>
                    <th scope="col">Mode</th>
                    <th scope="col">Latency min/avg/max (ms)</th>
                    <th scope="col">Znodes</th>
                    <th scope="col">Watches</th>
                    <th scope="col">Connections</th>
                    <th scope="col">Zxid</th>
                  </tr>
                </thead>
                <tbody>
                  {(c.zookeeper.servers ?? []).map((s) => (
                    <tr key={s.address} data-server={s.address}>
                      <th scope="row">{s.address}</th>
                      <td data-field="mode" class={s.reachable ? `mode-${s.mode ?? 'unknown'}` : 'st-DOWN'}>
                        {s.reachable ? (s.mode ?? 'unknown') : `unreachable${s.error ? ` (${s.error})` : ''}`}
                      </td>
                      <td>
                        {s.latencyMs
                          ? [s.latencyMs.min, s.latencyMs.avg, s.latencyMs.max].map(ms).join(' / ')
                          : '—'}
                      </td>
                      <td>{s.znodes ?? '—'}</td>
                      <td>{s.watches ?? '—'}</td>
                      <td>{s.connections ?? '—'}</td>
                      <td>{s.zxid ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <h3>Gateway replicas</h3>
            <ul class="plain" data-testid="replicas">
              {(c.gateways.replicas ?? []).map((r) => (
                <li key={r.id}>
                  <code>{r.id}</code>
                  {r.leader && <span class="badge"> leader</span>}
                  {r.self && <span class="badge muted"> this one</span>}
                </li>
              ))}
            </ul>
            <div class="columns">
              <section class="panel">
                <h3>Hot store</h3>
                <p>
                  {c.hotStore.kind ?? '—'}: {c.hotStore.state ?? '—'}
                </p>
              </section>
              <section class="panel">
                <h3>Scanner</h3>
                <p>
                  {c.scanner.active ? 'active on this replica' : 'standby'} · owned {c.scanner.owned ?? 0} ·
                  running {c.scanner.running ?? 0} · queued {c.scanner.queued ?? 0}
                </p>
              </section>
              <section class="panel">
                <h3>Reaper</h3>
                <dl class="facts">
                  {Object.entries(c.reaper).map(([k, v]) => (
                    <>
                      <dt key={`${k}-t`}>{k}</dt>
                      <dd key={`${k}-d`}>{typeof v === 'object' ? JSON.stringify(v) : String(v)}</dd>
                    </>
                  ))}
                </dl>
              </section>
            </div>
          </>
        )}
      </Loaded>
    </section>
  );
}
