/**
 * A 400 or 422 lists at most MAX_REPORTED_ERRORS failed rules: a body of many unknown keys, or a
 * document breaking a rule once per item, gets an answer of bounded size that still says how many
 * there were.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_REPORTED_ERRORS } from '../../src/errors.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';

const MANY = 5_000;

describe('problem documents of many failures', () => {
  let gateway: EmbeddedApp;
  beforeAll(async () => {
    gateway = await startEmbeddedApp();
  });
  afterAll(async () => {
    await gateway?.close();
  });

  it('name the first failures of a body with thousands of unknown fields, and count the rest', async () => {
    const body: Record<string, unknown> = { address: '10.0.0.1', port: 8080 };
    for (let i = 0; i < MANY; i++) body[`unknown${i}`] = i;
    const res = await gateway.inject({ method: 'PUT', url: '/v1/services/web/instances/i-1', payload: body });
    expect(res.statusCode).toBe(400);
    const problem = res.json<{ detail: string; errors: Array<{ field: string }> }>();
    expect(problem.errors).toHaveLength(MAX_REPORTED_ERRORS);
    expect(problem.errors[0]).toMatchObject({ field: 'body.unknown0' });
    expect(problem.detail).toContain(`and ${MANY - MAX_REPORTED_ERRORS} more`);
    expect(res.body.length).toBeLessThan(10_000);
  });

  it('name the first violations of a document that breaks its schema once per item', async () => {
    const ns = 'bounded/doc';
    const schema = { type: 'object', properties: { items: { type: 'array', items: { type: 'integer' } } } };
    expect(
      (
        await gateway.inject({
          method: 'PUT',
          url: `/v1/config/${ns}`,
          headers: { 'content-type': 'application/json' },
          payload: '{"items":[]}',
        })
      ).statusCode,
    ).toBe(201);
    expect(
      (await gateway.inject({ method: 'PUT', url: `/v1/config/${ns}:schema`, payload: schema })).statusCode,
    ).toBe(204);
    const items = Array.from({ length: MANY }, (_, i) => `not-${i}`);
    const res = await gateway.inject({
      method: 'PUT',
      url: `/v1/config/${ns}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ items }),
    });
    expect(res.statusCode).toBe(422);
    const problem = res.json<{ detail: string; errors: unknown[] }>();
    expect(problem.errors).toHaveLength(MAX_REPORTED_ERRORS);
    expect(problem.detail).toContain(`(${MANY} violations in all)`);
    expect(res.body.length).toBeLessThan(10_000);
  });
});
