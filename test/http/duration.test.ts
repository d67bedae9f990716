/**
 * One duration grammar: a long-poll's `wait`, a registration's `ttl`, a check's `interval` and
 * `timeout` accept and refuse the same strings, naming the field, and read them alike, as does
 * the age of `ZKGATE_AUDIT_RETENTION` (which needs its unit).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuditRetention, SettingsError } from '../../src/settings.js';
import { seed, startEmbeddedApp, type EmbeddedApp, sendJson } from '../support/embedded-app.js';

interface Problem {
  errors?: Array<{ field: string; message: string }>;
}

const NS = 'durations/ns';
const SERVICE = 'durations-svc';

describe('durations', () => {
  let gateway: EmbeddedApp;

  const json = (method: 'PUT' | 'POST', url: string, body: unknown) => sendJson(gateway, method, url, body);

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    await seed(gateway, { namespace: NS, service: SERVICE, id: 'i-1' });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  const ACCEPTED = ['0', '30', '500ms', '30s', '2m', '1h', '1d', '999999999ms', '007s'];
  const REFUSED = [
    '',
    '-1s',
    '1.5s',
    ' 1s',
    '1s ',
    '1e3',
    '0x10',
    '1m30s',
    '1S',
    '1sec',
    '1y',
    's',
    '1 s',
    '9999999999s',
    '+1s',
  ];
  const GRAMMAR = /must match pattern/;

  /** The grammar errors of `field` in an answer: none when the grammar admitted the value. */
  const grammarErrors = (res: { statusCode: number; json(): unknown }, field: string): string[] =>
    res.statusCode === 400
      ? ((res.json() as Problem).errors ?? [])
          .filter((e) => e.field === field && GRAMMAR.test(e.message))
          .map((e) => e.message)
      : [];

  const places: Array<[string, (value: string) => Promise<{ statusCode: number; json(): unknown }>, string]> =
    [
      [
        'a config long-poll',
        (v) => gateway.inject(`/v1/config/${NS}?index=0&wait=${encodeURIComponent(v)}`),
        'querystring.wait',
      ],
      [
        'an instance long-poll',
        (v) => gateway.inject(`/v1/services/${SERVICE}/instances?index=0&wait=${encodeURIComponent(v)}`),
        'querystring.wait',
      ],
      [
        'a lease TTL',
        (v) =>
          json('PUT', `/v1/services/${SERVICE}/instances/ttl`, { address: '10.0.0.7', port: 80, ttl: v }),
        'body.ttl',
      ],
      [
        'a check interval',
        (v) =>
          json('PUT', `/v1/services/${SERVICE}/instances/check`, {
            address: '127.0.0.1',
            port: 9,
            check: { tcp: true, interval: v },
          }),
        'body.check.interval',
      ],
      [
        'a check timeout',
        (v) =>
          json('PUT', `/v1/services/${SERVICE}/instances/check`, {
            address: '127.0.0.1',
            port: 9,
            check: { tcp: true, interval: '1h', timeout: v },
          }),
        'body.check.timeout',
      ],
    ];

  it('accepts and refuses the same strings everywhere, naming the field', async () => {
    for (const [place, send, field] of places) {
      for (const value of ACCEPTED)
        expect(grammarErrors(await send(value), field), `${place}: ${value}`).toEqual([]);
      for (const value of REFUSED) {
        const res = await send(value);
        expect(res.statusCode, `${place}: ${JSON.stringify(value)}`).toBe(400);
        expect(grammarErrors(res, field), `${place}: ${JSON.stringify(value)}`).not.toEqual([]);
      }
    }
  });

  it('means the same everywhere: bare numbers are seconds in the API, a setting needs its unit', async () => {
    const ttlMs = async (ttl: string | number) => {
      const res = await json('PUT', `/v1/services/${SERVICE}/instances/ttl`, {
        address: '10.0.0.7',
        port: 80,
        ttl,
      });
      expect(res.statusCode, String(ttl)).toBeLessThan(300);
      return (res.json() as { ttlMs: number }).ttlMs;
    };
    const ageMs = (age: string) => parseAuditRetention(`1000,${age}`).maxAgeMs;
    for (const [text, ms] of [
      ['1500ms', 1_500],
      ['30s', 30_000],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['1d', 86_400_000],
    ] as const) {
      expect(await ttlMs(text)).toBe(ms);
      expect(ageMs(text)).toBe(ms);
    }
    expect(await ttlMs('45')).toBe(45_000);
    expect(await ttlMs(45)).toBe(45_000);
    expect(() => ageMs('45')).toThrow(SettingsError);
    for (const value of REFUSED) expect(() => ageMs(value), value).toThrow(SettingsError);
  });
});
