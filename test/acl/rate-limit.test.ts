/**
 * Rate limits per token: a token past its limit gets 429 with Retry-After while other tokens go
 * on; requests without a valid token are counted by address, so guessing tokens is limited too;
 * health probes are never limited.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSecret } from '../../src/acl/tokens.js';
import { bearerFor, startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { MANAGEMENT } from '../support/tokens.js';

const LIMIT = 20;

describe('rate limits', () => {
  let gateway: EmbeddedApp;
  let other: Record<string, string>;

  beforeAll(async () => {
    // A window is one second: the limit is high enough that setup never trips it.
    gateway = await startEmbeddedApp({ ZKGATE_RATE_LIMIT: String(LIMIT) });
    other = await bearerFor(gateway, 'other', ['read-only']);
  });

  afterAll(async () => {
    await gateway?.close();
  });

  /** Fires `count` requests at once; their statuses, in order. */
  const burst = async (count: number, headers: Record<string, string>, url = '/v1/config') =>
    Promise.all(Array.from({ length: count }, () => gateway.app.inject({ method: 'GET', url, headers })));

  it('answers 429 with Retry-After past the limit, per token', async () => {
    const answers = await burst(LIMIT + 5, MANAGEMENT);
    const limited = answers.filter((a) => a.statusCode === 429);
    expect(limited.length).toBeGreaterThanOrEqual(5);
    expect(limited[0]?.json()).toMatchObject({ code: 'ZKG_RATE_LIMITED', status: 429 });
    expect(Number(limited[0]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another token has its own allowance.
    expect((await gateway.app.inject({ method: 'GET', url: '/v1/config', headers: other })).statusCode).toBe(
      200,
    );
  });

  it('counts unknown tokens by address, before telling them apart', async () => {
    const guesses = await Promise.all(
      Array.from({ length: LIMIT + 5 }, () =>
        gateway.app.inject({
          method: 'GET',
          url: '/v1/config',
          headers: { authorization: `Bearer ${newSecret().secret}` },
        }),
      ),
    );
    expect(guesses.filter((a) => a.statusCode === 401).length).toBeLessThanOrEqual(LIMIT);
    expect(guesses.some((a) => a.statusCode === 429)).toBe(true);
  });

  it('never limits health probes', async () => {
    const answers = await burst(LIMIT * 3, {}, '/healthz');
    expect(answers.every((a) => a.statusCode === 200)).toBe(true);
  });
});
