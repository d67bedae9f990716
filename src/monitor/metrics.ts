/**
 * The gateway's Prometheus metrics (prom-client), one registry per gateway so that two gateways in
 * one process (tests, benchmarks) keep their own figures.
 *
 * Two kinds: counters and histograms the code moves as things happen (requests, store operations,
 * publishes, probes, dispatches, evictions), and gauges read at scrape time from whatever owns the
 * state (connections, watches, instances by status, leadership, the reaper's state), so a scrape
 * never disagrees with the status pages.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the scrape-time gauges read; given once the services exist. */
export interface MetricSources {
  /** The coordination store's connection state. */
  storeState(): string;
  /** Watches the caches hold on the coordination store. */
  watches(): number;
  /** Instances by service and effective status. */
  instances(): Iterable<{ service: string; status: string; count: number }>;
  /** The lease reaper's state, and whether self-preservation holds evictions back. */
  reaper(): { state: string; preserving: boolean };
  /** Whether this replica leads the singleton jobs. */
  leader(): boolean;
  /** Live gateway replicas this replica sees. */
  replicas(): number;
  /** The hot store's connection state. */
  hotStoreState(): string;
  /** Probes running and waiting for a slot. */
  probes(): { running: number; queued: number };
}

const STORE_STATES = ['connecting', 'connected', 'disconnected', 'expired', 'closed'] as const;
const REAPER_STATES = ['standby', 'sweeping', 'preserving', 'paused'] as const;
/** Store operations take from tens of microseconds (embedded reads) to seconds (a struggling ensemble). */
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;

  readonly httpRequests = new Counter({
    name: 'zkgate_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'zkgate_http_request_duration_seconds',
    help: 'Time to answer an HTTP request (for SSE and long-polls: how long the connection lasted)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly sseConnections = new Gauge({
    name: 'zkgate_sse_connections',
    help: 'Server-Sent Events streams open now',
    registers: [this.registry],
  });
  readonly storeSessionEvents = new Counter({
    name: 'zkgate_store_session_events_total',
    help: 'Coordination store connection-state changes, by the state entered',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly storeOperations = new Histogram({
    name: 'zkgate_store_operation_duration_seconds',
    help: 'Coordination store operations, by operation and result (ok or the error code)',
    labelNames: ['op', 'result'] as const,
    buckets: STORE_BUCKETS,
    registers: [this.registry],
  });
  readonly configPublishes = new Counter({
    name: 'zkgate_config_publishes_total',
    help: 'Configuration changes written by this replica, by kind (publish, rollback, delete)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly checks = new Counter({
    name: 'zkgate_checks_total',
    help: 'Health-check probes run by this replica, by kind (http, tcp) and result (pass, fail)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly checkDuration = new Histogram({
    name: 'zkgate_check_duration_seconds',
    help: 'Time a health-check probe took, timeouts included',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly checksLate = new Counter({
    name: 'zkgate_checks_late_total',
    help: 'Probes that started later than their interval allows: the replica checks more than it can keep up with',
    registers: [this.registry],
  });
  readonly checkTransitions = new Counter({
    name: 'zkgate_check_transitions_total',
    help: 'Health-check verdicts written by this replica, by the status entered',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });
  readonly dispatches = new Counter({
    name: 'zkgate_dispatches_total',
    help: 'Dispatch requests, by strategy and outcome (picked, protected, none)',
    labelNames: ['strategy', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly evictions = new Counter({
    name: 'zkgate_lease_evictions_total',
    help: 'Instances evicted by this replica because their lease ran out',
    registers: [this.registry],
  });
  readonly deferredRenewals = new Counter({
    name: 'zkgate_lease_renewals_deferred_total',
    help: 'Registrations and heartbeats answered while the hot store was unreachable (degraded)',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const gauge = (
      name: string,
      help: string,
      labelNames: readonly string[],
      collect: (gauge: Gauge, sources: MetricSources) => void,
    ): void => {
      const sources = (): MetricSources | undefined => this.sources;
      new Gauge({
        name,
        help,
        labelNames,
        registers: [this.registry],
        collect() {
          const bound = sources();
          if (!bound) return;
          this.reset();
          collect(this, bound);
        },
      });
    };
    gauge(
      'zkgate_store_state',
      'Coordination store connection state (1 for the current one)',
      ['state'],
      (g, s) => {
        const now = s.storeState();
        for (const state of STORE_STATES) g.set({ state }, state === now ? 1 : 0);
      },
    );
    gauge('zkgate_watches', 'Watches the caches hold on the coordination store', [], (g, s) =>
      g.set(s.watches()),
    );
    gauge(
      'zkgate_instances',
      'Registered instances, by service and effective status',
      ['service', 'status'],
      (g, s) => {
        for (const { service, status, count } of s.instances()) g.set({ service, status }, count);
      },
    );
    gauge('zkgate_reaper_state', "The lease reaper's state (1 for the current one)", ['state'], (g, s) => {
      const now = s.reaper().state;
      for (const state of REAPER_STATES) g.set({ state }, state === now ? 1 : 0);
    });
    gauge('zkgate_self_preservation', '1 while self-preservation holds lease evictions back', [], (g, s) =>
      g.set(s.reaper().preserving ? 1 : 0),
    );
    gauge('zkgate_leader', '1 on the replica that leads the singleton jobs', [], (g, s) =>
      g.set(s.leader() ? 1 : 0),
    );
    gauge('zkgate_gateway_replicas', 'Live gateway replicas, as this replica sees them', [], (g, s) =>
      g.set(s.replicas()),
    );
    gauge(
      'zkgate_checks_in_flight',
      'Health-check probes running now, and waiting for a slot',
      ['state'],
      (g, s) => {
        const { running, queued } = s.probes();
        g.set({ state: 'running' }, running);
        g.set({ state: 'queued' }, queued);
      },
    );
    gauge('zkgate_hotstore_connected', '1 while the hot store is reachable', [], (g, s) =>
      g.set(s.hotStoreState() === 'connected' ? 1 : 0),
    );
  }

  /** Give the scrape-time gauges their sources. */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  /** The exposition: Prometheus text format. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
