/**
 * An open watch stream is held to its token's rules as they are now, not as they were at
 * connect: a policy change takes a prefix's namespaces out of the very next event, and a token
 * that expires loses its stream as a revoked one does. (Revocation across two replicas is in
 * isolation.test.ts.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PolicyRules } from '../../src/acl/policy.js';
import { bearerFor, startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { openSse, type SseClient } from '../support/sse-client.js';
import { within } from '../support/within.js';

describe('an open watch stream', () => {
  let gateway: EmbeddedApp;
  let base: string;
  const clients: SseClient[] = [];

  const publish = async (ns: string, body: string): Promise<string> => {
    const res = await gateway.inject({
      method: 'PUT',
      url: `/v1/config/${ns}`,
      headers: { 'content-type': 'application/json' },
      payload: body,
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    return res.json<{ index: string }>().index;
  };
  const putPolicy = async (name: string, rules: PolicyRules, status: number) => {
    const res = await gateway.inject({ method: 'PUT', url: `/v1/acl/policies/${name}`, payload: { rules } });
    expect(res.statusCode, res.body).toBe(status);
  };
  const token = (policy: string, expiresAt?: string): Promise<Record<string, string>> =>
    bearerFor(gateway, policy, [policy], expiresAt ? { expiresAt } : {});
  const watch = async (query: string, headers: Record<string, string>) => {
    const client = await openSse(`${base}/v1/watch?${query}`, headers);
    clients.push(client);
    expect(client.status).toBe(200);
    return client;
  };

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    base = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await gateway?.close();
  });

  it('stops delivering a namespace from the first change after a policy takes it away', async () => {
    await publish('team-a/app', '{"v":1}');
    await publish('team-c/app', '{"v":1}');
    await putPolicy('a-and-c', { config: { 'team-a/': ['read'], 'team-c/': ['read'] } }, 201);
    const stream = await watch('prefix=team-', await token('a-and-c'));
    const snapshot = [await stream.next(), await stream.next()];
    expect(snapshot.map((e) => (JSON.parse(e.data) as { namespace: string }).namespace).sort()).toEqual([
      'team-a/app',
      'team-c/app',
    ]);
    const before = stream.events.length;

    // The policy's answer comes once this replica applies it: nothing below can race it.
    await putPolicy('a-and-c', { config: { 'team-a/': ['read'], 'team-c/': 'deny' } }, 200);
    // team-c first, so a leak would arrive before the event awaited.
    await publish('team-c/app', '{"v":2}');
    await publish('team-c/new', '{"v":1}');
    const index = await publish('team-a/app', '{"v":2}');
    const next = await stream.next();
    expect(next.id).toBe(index);
    expect(JSON.parse(next.data)).toMatchObject({ namespace: 'team-a/app' });
    expect(stream.events.slice(before).filter((e) => e.data.includes('team-c'))).toEqual([]);
  });

  it('closes with a revoked event once its token expires', async () => {
    await publish('team-e/app', '{"v":1}');
    await putPolicy('team-e', { config: { 'team-e/': ['read'] } }, 201);
    const expiresAt = Date.now() + 60_000;
    const stream = await watch('ns=team-e/app', await token('team-e', new Date(expiresAt).toISOString()));
    await stream.next();

    // Only the clock moves: the gateway's once-a-second check of open streams runs for real.
    vi.useFakeTimers({ toFake: ['Date'], now: expiresAt + 1_000 });
    await within(stream.ended, 'the stream of an expired token to close', 3_000);
    expect(stream.events.at(-1)?.event).toBe('revoked');
  });
});
