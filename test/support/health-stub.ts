/**
 * A fleet of instance health endpoints on one loopback port: `GET /health/<id>` answers the
 * status set for `<id>` (200 by default), after an optional delay, and every probe is logged with
 * the replica that sent it, so tests can tell who checked what, when and how many at once.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Probe {
  readonly id: string;
  readonly replica: string;
  readonly status: number;
  readonly at: number;
}

export interface HealthStub {
  readonly port: number;
  readonly probes: readonly Probe[];
  /** Most probes in flight at once, overall and for any one instance. */
  readonly maxInFlight: number;
  readonly maxInFlightPerInstance: number;
  setStatus(id: string, status: number): void;
  setDelay(id: string, ms: number): void;
  /** Probes of `id` (optionally only those answered with `status`) since `after`. */
  count(id: string, options?: { status?: number; after?: number }): number;
  close(): Promise<void>;
}

export async function startHealthStub(): Promise<HealthStub> {
  const statuses = new Map<string, number>();
  const delays = new Map<string, number>();
  const probes: Probe[] = [];
  const inFlight = new Map<string, number>();
  let total = 0;
  let maxInFlight = 0;
  let maxInFlightPerInstance = 0;
  const server: Server = createServer((request, response) => {
    const match = /^\/health\/(.+)$/.exec(request.url ?? '');
    if (!match) return void response.writeHead(404).end();
    const id = decodeURIComponent(match[1]!);
    total++;
    inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    maxInFlight = Math.max(maxInFlight, total);
    maxInFlightPerInstance = Math.max(maxInFlightPerInstance, inFlight.get(id)!);
    const status = statuses.get(id) ?? 200;
    const answer = (): void => {
      total--;
      inFlight.set(id, inFlight.get(id)! - 1);
      probes.push({ id, replica: String(request.headers['x-zkgate-replica'] ?? ''), status, at: Date.now() });
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 400 ? 'ok' : 'failing');
    };
    const delay = delays.get(id) ?? 0;
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    probes,
    get maxInFlight() {
      return maxInFlight;
    },
    get maxInFlightPerInstance() {
      return maxInFlightPerInstance;
    },
    setStatus: (id, status) => void statuses.set(id, status),
    setDelay: (id, ms) => void delays.set(id, ms),
    count: (id, options = {}) =>
      probes.filter(
        (p) =>
          p.id === id &&
          (options.status === undefined || p.status === options.status) &&
          p.at >= (options.after ?? 0),
      ).length,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
