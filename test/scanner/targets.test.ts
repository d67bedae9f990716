/**
 * What health checks may probe: link-local (cloud metadata), unspecified and multicast addresses
 * are refused by default, at registration for literal addresses and at probe time after DNS
 * resolution; settings add refused ranges and open allowed ones.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { HealthCheck } from '../../src/registry/instance.js';
import { probe } from '../../src/scanner/probes.js';
import { CheckTargets, parseCidr } from '../../src/scanner/targets.js';
import { loadSettings } from '../../src/settings.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

/** A name that resolves to the cloud metadata address, as a DNS record pointed there would. */
const METADATA_NAME = 'metadata.zkgate.test';

vi.mock('node:dns', async (importOriginal) => {
  const dns = await importOriginal<typeof import('node:dns')>();
  const lookup = (hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    if (hostname !== METADATA_NAME) return dns.lookup(hostname, options, callback);
    const address = { address: '169.254.169.254', family: 4 };
    return (options as { all?: boolean }).all
      ? callback(null, [address])
      : callback(null, address.address, 4);
  };
  return { ...dns, default: { ...dns, lookup }, lookup };
});

const http: HealthCheck = { http: { path: '/' }, intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 };
const tcp: HealthCheck = { tcp: true, intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 };

describe('check targets', () => {
  it('refuses link-local, unspecified, multicast and broadcast addresses by default', () => {
    const targets = new CheckTargets();
    for (const address of [
      '169.254.169.254',
      '169.254.0.1',
      'fe80::1',
      '0.0.0.0',
      '::',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '::ffff:169.254.169.254',
      'metadata.google.internal',
    ]) {
      expect(targets.permits(address), address).toBe(false);
    }
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.10',
      '::1',
      '2001:db8::1',
      '::ffff:10.0.0.1',
    ]) {
      expect(targets.permits(address), address).toBe(true);
    }
  });

  it('adds refused ranges and opens allowed ones from the settings', () => {
    const targets = new CheckTargets({ deny: ['10.0.0.0/8'], allow: ['169.254.10.0/24'] });
    expect(targets.permits('10.9.9.9')).toBe(false);
    expect(targets.permits('169.254.10.7')).toBe(true);
    expect(targets.permits('169.254.169.254')).toBe(false);
    expect(loadSettings({ ZKGATE_CHECK_DENY_CIDRS: '10.0.0.0/8, fd00::/8' }).checkDenyCidrs).toEqual([
      '10.0.0.0/8',
      'fd00::/8',
    ]);
    expect(() => loadSettings({ ZKGATE_CHECK_ALLOW_CIDRS: '10.0.0.0/33' })).toThrow(
      /ZKGATE_CHECK_ALLOW_CIDRS/,
    );
    expect(() => parseCidr('example.com/8')).toThrow(RangeError);
  });

  describe('at probe time', () => {
    let server: Server;
    let port: number;
    let connections = 0;

    beforeAll(async () => {
      server = createServer((_request, response) => response.end('ok'));
      server.on('connection', () => connections++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });

    it('refuses a name that resolves to 169.254.169.254, by default', async () => {
      for (const check of [http, tcp]) {
        const result = await probe(check, { address: METADATA_NAME, port, tls: false }, 'gw');
        expect(result).toMatchObject({ ok: false, detail: 'EZKGATE_TARGET_DENIED' });
      }
    });

    it('refuses a name that resolves to a refused address, without connecting', async () => {
      // Through the system's resolver this time, and observably unconnected: loopback refused
      // by the settings, and "localhost", which resolves to it.
      const targets = new CheckTargets({ deny: ['127.0.0.0/8', '::1/128'] });
      const before = connections;
      for (const check of [http, tcp]) {
        const result = await probe(
          check,
          { address: 'localhost', port, tls: false },
          'gw',
          undefined,
          targets,
        );
        expect(result).toMatchObject({ ok: false, detail: 'EZKGATE_TARGET_DENIED' });
      }
      const literal = await probe(http, { address: '127.0.0.1', port, tls: false }, 'gw', undefined, targets);
      expect(literal).toMatchObject({ ok: false, detail: 'EZKGATE_TARGET_DENIED' });
      expect(connections).toBe(before);
      // The same name is probed where it may be.
      expect(await probe(http, { address: 'localhost', port, tls: false }, 'gw')).toMatchObject({ ok: true });
    });
  });

  describe('at registration', () => {
    let gateway: EmbeddedApp;

    beforeAll(async () => {
      gateway = await startEmbeddedApp();
    });

    afterAll(async () => {
      await gateway?.close();
    });

    const register = (address: string, check?: object) =>
      gateway.inject({
        method: 'PUT',
        url: `/v1/services/meta/instances/${address.replace(/[^a-z0-9]/gi, '-')}`,
        payload: { address, port: 80, ...(check ? { check } : {}) },
      });

    it('refuses a check aimed at the cloud metadata address with 400', async () => {
      const refused = await register('169.254.169.254', { http: { path: '/latest/meta-data/' } });
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({ code: 'ZKG_CHECK_TARGET_DENIED' });
      expect((await gateway.inject({ method: 'GET', url: '/v1/services/meta/instances' })).statusCode).toBe(
        404,
      );
      // An address is not a probe: without a check the instance is only listed.
      expect((await register('169.254.169.254')).statusCode).toBe(201);
      // A name is judged when it is resolved, at every probe.
      expect((await register('metadata.example', { tcp: true })).statusCode).toBe(201);
    });
  });
});
