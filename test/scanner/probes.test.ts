/**
 * The probes against real sockets: HTTP status matching, TCP connects, the hard timeout, the
 * bounded body read and no connection left open after a probe.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthCheck } from '../../src/registry/instance.js';
import { probe } from '../../src/scanner/probes.js';
import { freePorts } from '../support/processes.js';

const http = (path: string, extra: Partial<HealthCheck> = {}): HealthCheck => ({
  http: { path },
  intervalMs: 1000,
  timeoutMs: 500,
  rise: 1,
  fall: 1,
  ...extra,
});
const tcp: HealthCheck = { tcp: true, intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 };

describe('health-check probes', () => {
  let server: Server;
  let port: number;
  let bodyClosed: Promise<void> = Promise.resolve();
  const seen: IncomingMessage[] = [];

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      seen.push(request);
      const url = new URL(request.url!, 'http://x');
      if (url.pathname === '/status') {
        response.writeHead(Number(url.searchParams.get('code'))).end('body');
      } else if (url.pathname === '/hang') {
        // Never answers: only the probe's timeout ends it.
      } else if (url.pathname === '/endless') {
        response.writeHead(200, { 'content-type': 'text/plain' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let written = 0;
        bodyClosed = new Promise((resolve) => response.on('close', resolve));
        const pump = (): void => {
          while (!response.destroyed && written < 256 * 1024 * 1024) {
            written += chunk.length;
            if (!response.write(chunk)) return void response.once('drain', pump);
          }
          response.end();
        };
        pump();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const target = () => ({ address: '127.0.0.1', port, tls: false });

  it('passes on 2xx and 3xx by default, or on exactly the expected status', async () => {
    expect(await probe(http('/status?code=204'), target(), 'gw-1')).toMatchObject({
      ok: true,
      detail: 'HTTP 204',
    });
    expect(await probe(http('/status?code=302'), target(), 'gw-1')).toMatchObject({ ok: true });
    expect(await probe(http('/status?code=500'), target(), 'gw-1')).toMatchObject({
      ok: false,
      detail: 'HTTP 500',
    });
    expect(await probe(http('/status?code=404'), target(), 'gw-1')).toMatchObject({ ok: false });
    const expect418 = http('/status?code=418', { http: { path: '/status?code=418', expectStatus: 418 } });
    expect(await probe(expect418, target(), 'gw-1')).toMatchObject({ ok: true, detail: 'HTTP 418' });
    const expect200 = http('/status?code=204', { http: { path: '/status?code=204', expectStatus: 200 } });
    expect(await probe(expect200, target(), 'gw-1')).toMatchObject({ ok: false, detail: 'HTTP 204' });
  });

  it('names the replica that probes and closes the connection after each probe', async () => {
    seen.length = 0;
    for (let i = 0; i < 5; i++) await probe(http('/status?code=200'), target(), 'gw-7');
    expect(seen.map((r) => r.headers['x-zkgate-replica'])).toEqual(Array(5).fill('gw-7'));
    expect(seen.every((r) => r.headers.connection === 'close')).toBe(true);
    const open = await new Promise<number>((resolve, reject) =>
      server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
    );
    expect(open).toBe(0);
  });

  it('fails at its timeout when the instance never answers', async () => {
    const result = await probe(http('/hang', { timeoutMs: 200 }), target(), 'gw-1');
    expect(result.ok).toBe(false);
    expect(result.detail).toBe('timed out after 200 ms');
    expect(result.latencyMs).toBeGreaterThanOrEqual(195);
    expect(result.latencyMs).toBeLessThan(1000);
  });

  it('reads only the start of a large body and drops the connection', async () => {
    const result = await probe(http('/endless', { timeoutMs: 5000 }), target(), 'gw-1');
    expect(result).toMatchObject({ ok: true, detail: 'HTTP 200' });
    // The server's response ends because the client went away, long before 256 MiB were sent.
    await bodyClosed;
  });

  it('connects over TCP, and fails on a closed port', async () => {
    expect(await probe(tcp, target(), 'gw-1')).toMatchObject({ ok: true, detail: 'connected' });
    const [closed] = await freePorts(1);
    const refused = await probe(tcp, { address: '127.0.0.1', port: closed!, tls: false }, 'gw-1');
    expect(refused).toMatchObject({ ok: false, detail: 'ECONNREFUSED' });
    const viaHttp = await probe(http('/'), { address: '127.0.0.1', port: closed!, tls: false }, 'gw-1');
    expect(viaHttp).toMatchObject({ ok: false, detail: 'ECONNREFUSED' });
  });

  it('is refused by a server that closes the connection at once', async () => {
    const rude = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    const rudePort = (rude.address() as AddressInfo).port;
    try {
      const result = await probe(http('/'), { address: '127.0.0.1', port: rudePort, tls: false }, 'gw-1');
      expect(result.ok).toBe(false);
      expect(result.detail.length).toBeGreaterThan(0);
    } finally {
      await new Promise((resolve) => rude.close(resolve));
    }
  });
});
