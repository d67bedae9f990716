/**
 * Every operation of the OpenAPI document, called three ways: without a token (401), with a
 * token holding every permission but the one the operation needs (403), and with a token
 * holding exactly that one (success). The table below must cover the whole document: a route
 * added without a case here fails the suite, as does one whose declaration is not enforced, or
 * enforced with a permission its declaration does not name. What the document leaves out (the
 * document itself, Swagger UI, the console's static files) must answer without a token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSION_KEY, parseRequirements } from '../../src/acl/permissions.js';
import { PERMISSIONS, type Permission, type PolicyRules } from '../../src/acl/policy.js';
import { startEmbeddedApp, type EmbeddedApp } from '../support/embedded-app.js';
import { MANAGEMENT } from '../support/tokens.js';

type Kind = 'config' | 'service' | 'operator' | 'acl';

interface Call {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
  readonly contentType?: string;
}

/** One way to call an operation: what it needs, the state it needs first, and the answer it gets. */
interface Case {
  /** A label for permissions an operation may need (publish: create when new, write when not). */
  readonly label?: string;
  readonly kind: Kind;
  readonly permission: Permission | 'any';
  /** Names created per case, so cases never share state. */
  setup?(name: string): Promise<void>;
  call(name: string): Call;
  readonly status: number;
}

const json = (method: string, path: string, body: unknown): Call => ({
  method,
  path,
  body: JSON.stringify(body),
  contentType: 'application/json',
});

describe('every operation of the API', () => {
  let gateway: EmbeddedApp;
  let base: string;
  let serial = 0;

  const asOperator = async (call: Call, expected: number) => {
    const res = await send(call, MANAGEMENT);
    expect(res.status, `${call.method} ${call.path}: ${res.text}`).toBe(expected);
  };
  const send = async (call: Call, headers: Record<string, string>) => {
    const controller = new AbortController();
    const res = await fetch(`${base}${call.path}`, {
      method: call.method,
      headers: { ...headers, ...(call.contentType ? { 'content-type': call.contentType } : {}) },
      ...(call.body === undefined ? {} : { body: call.body as string }),
      signal: controller.signal,
      redirect: 'manual',
    });
    // A watch stream never ends by itself: its status is all a case looks at.
    const streaming = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
    if (streaming) controller.abort();
    return { status: res.status, headers: res.headers, text: streaming ? '' : await res.text() };
  };
  const publish = async (ns: string, body = '{"v":1}') => {
    const res = await send(
      { method: 'PUT', path: `/v1/config/${ns}`, body, contentType: 'application/json' },
      MANAGEMENT,
    );
    expect([200, 201], res.text).toContain(res.status);
  };
  const register = (service: string, id = 'i1') =>
    asOperator(
      json('PUT', `/v1/services/${service}/instances/${id}`, { address: '127.0.0.1', port: 8080 }),
      201,
    );
  const policy = (name: string) =>
    asOperator(json('PUT', `/v1/acl/policies/${name}`, { rules: { config: { 'x/': ['read'] } } }), 201);
  const token = async (description: string): Promise<string> => {
    const res = await send(
      json('POST', '/v1/acl/tokens', { description, policies: ['read-only'] }),
      MANAGEMENT,
    );
    return (JSON.parse(res.text) as { accessor: string }).accessor;
  };
  /** A fresh token whose only policy holds `rules`. */
  const tokenWith = async (rules: PolicyRules): Promise<Record<string, string>> => {
    const name = `p${++serial}`;
    await asOperator(json('PUT', `/v1/acl/policies/${name}`, { rules }), 201);
    const res = await send(
      json('POST', '/v1/acl/tokens', { description: name, policies: [name] }),
      MANAGEMENT,
    );
    return { authorization: `Bearer ${(JSON.parse(res.text) as { secret: string }).secret}` };
  };
  const rulesFor = (kind: Kind, permissions: readonly Permission[]): PolicyRules =>
    kind === 'config' || kind === 'service' ? { [kind]: { '': permissions } } : { [kind]: permissions };

  const doc = (ns: string): Call => ({
    method: 'PUT',
    path: `/v1/config/${ns}`,
    body: '{"v":2}',
    contentType: 'application/json',
  });
  const CASES: Record<string, readonly Case[]> = {
    'GET /v1/config': [
      {
        kind: 'config',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/config' }),
        status: 200,
      },
    ],
    'GET /v1/config/{namespace}': [
      {
        kind: 'config',
        permission: 'read',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/config/ns/${n}` }),
        status: 200,
      },
    ],
    'PUT /v1/config/{namespace}': [
      { label: 'new', kind: 'config', permission: 'create', call: (n) => doc(`ns/${n}`), status: 201 },
      {
        label: 'existing',
        kind: 'config',
        permission: 'write',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => doc(`ns/${n}`),
        status: 200,
      },
    ],
    'DELETE /v1/config/{namespace}': [
      {
        kind: 'config',
        permission: 'delete',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => ({ method: 'DELETE', path: `/v1/config/ns/${n}` }),
        status: 200,
      },
    ],
    'GET /v1/config/{namespace}:history': [
      {
        kind: 'config',
        permission: 'read',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/config/ns/${n}:history` }),
        status: 200,
      },
    ],
    'GET /v1/config/{namespace}:history/{version}': [
      {
        kind: 'config',
        permission: 'read',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/config/ns/${n}:history/1` }),
        status: 200,
      },
    ],
    'POST /v1/config/{namespace}:rollback': [
      {
        kind: 'config',
        permission: 'write',
        setup: async (n) => {
          await publish(`ns/${n}`);
          await publish(`ns/${n}`, '{"v":2}');
        },
        call: (n) => json('POST', `/v1/config/ns/${n}:rollback`, { version: 1 }),
        status: 200,
      },
    ],
    'GET /v1/config/{namespace}:schema': [
      {
        kind: 'config',
        permission: 'read',
        setup: async (n) => {
          await publish(`ns/${n}`);
          await asOperator(json('PUT', `/v1/config/ns/${n}:schema`, { type: 'object' }), 204);
        },
        call: (n) => ({ method: 'GET', path: `/v1/config/ns/${n}:schema` }),
        status: 200,
      },
    ],
    'PUT /v1/config/{namespace}:schema': [
      {
        kind: 'config',
        permission: 'admin',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => json('PUT', `/v1/config/ns/${n}:schema`, { type: 'object' }),
        status: 204,
      },
    ],
    'GET /v1/services': [
      {
        kind: 'service',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/services' }),
        status: 200,
      },
    ],
    'PUT /v1/services/{service}': [
      {
        kind: 'operator',
        permission: 'write',
        call: (n) => json('PUT', `/v1/services/s${n}`, { protectThreshold: 0.5 }),
        status: 200,
      },
    ],
    'POST /v1/services/{service}:release': [
      {
        kind: 'operator',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'POST', path: `/v1/services/s${n}:release` }),
        status: 202,
      },
    ],
    'GET /v1/services/{service}/instances': [
      {
        kind: 'service',
        permission: 'read',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/services/s${n}/instances` }),
        status: 200,
      },
    ],
    'GET /v1/services/{service}/checks': [
      {
        kind: 'service',
        permission: 'read',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/services/s${n}/checks` }),
        status: 200,
      },
    ],
    'PUT /v1/services/{service}/instances/{id}': [
      {
        label: 'new',
        kind: 'service',
        permission: 'create',
        call: (n) => json('PUT', `/v1/services/s${n}/instances/i1`, { address: '127.0.0.1', port: 8080 }),
        status: 201,
      },
      {
        label: 'existing',
        kind: 'service',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => json('PUT', `/v1/services/s${n}/instances/i1`, { address: '127.0.0.1', port: 8081 }),
        status: 200,
      },
    ],
    'DELETE /v1/services/{service}/instances/{id}': [
      {
        kind: 'service',
        permission: 'delete',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'DELETE', path: `/v1/services/s${n}/instances/i1` }),
        status: 204,
      },
    ],
    'PUT /v1/services/{service}/instances/{id}/heartbeat': [
      {
        kind: 'service',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'PUT', path: `/v1/services/s${n}/instances/i1/heartbeat` }),
        status: 200,
      },
    ],
    'POST /v1/heartbeats': [
      {
        kind: 'service',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => json('POST', '/v1/heartbeats', { heartbeats: [{ service: `s${n}`, id: 'i1' }] }),
        status: 200,
      },
    ],
    'PUT /v1/services/{service}/instances/{id}/status': [
      {
        kind: 'operator',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => json('PUT', `/v1/services/s${n}/instances/i1/status`, { status: 'DOWN' }),
        status: 200,
      },
    ],
    'DELETE /v1/services/{service}/instances/{id}/status': [
      {
        kind: 'operator',
        permission: 'write',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'DELETE', path: `/v1/services/s${n}/instances/i1/status` }),
        status: 200,
      },
    ],
    'GET /v1/dispatch/{service}': [
      {
        kind: 'service',
        permission: 'read',
        setup: (n) => register(`s${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/dispatch/s${n}` }),
        status: 200,
      },
    ],
    'GET /v1/watch': [
      {
        label: 'namespace',
        kind: 'config',
        permission: 'read',
        setup: (n) => publish(`ns/${n}`),
        call: (n) => ({ method: 'GET', path: `/v1/watch?ns=ns/${n}` }),
        status: 200,
      },
      {
        label: 'service',
        kind: 'service',
        permission: 'read',
        call: (n) => ({ method: 'GET', path: `/v1/watch?service=s${n}` }),
        status: 200,
      },
    ],
    'GET /v1/acl/whoami': [
      {
        kind: 'acl',
        permission: 'any',
        call: () => ({ method: 'GET', path: '/v1/acl/whoami' }),
        status: 200,
      },
    ],
    'POST /v1/acl/tokens': [
      {
        kind: 'acl',
        permission: 'create',
        call: (n) => json('POST', '/v1/acl/tokens', { description: `t${n}`, policies: ['read-only'] }),
        status: 201,
      },
    ],
    'GET /v1/acl/tokens': [
      {
        kind: 'acl',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/acl/tokens' }),
        status: 200,
      },
    ],
    'GET /v1/acl/tokens/{accessor}': [
      {
        kind: 'acl',
        permission: 'read',
        call: () => ({ method: 'GET', path: `/v1/acl/tokens/${accessors.get('read')}` }),
        setup: async () => void accessors.set('read', await token('to read')),
        status: 200,
      },
    ],
    'DELETE /v1/acl/tokens/{accessor}': [
      {
        kind: 'acl',
        permission: 'delete',
        setup: async (n) => void accessors.set(n, await token(`to delete ${n}`)),
        call: (n) => ({ method: 'DELETE', path: `/v1/acl/tokens/${accessors.get(n)}` }),
        status: 200,
      },
    ],
    'GET /v1/acl/policies': [
      {
        kind: 'acl',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/acl/policies' }),
        status: 200,
      },
    ],
    'GET /v1/acl/policies/{name}': [
      {
        kind: 'acl',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/acl/policies/management' }),
        status: 200,
      },
    ],
    'PUT /v1/acl/policies/{name}': [
      {
        label: 'new',
        kind: 'acl',
        permission: 'create',
        call: (n) => json('PUT', `/v1/acl/policies/q${n}`, { rules: {} }),
        status: 201,
      },
      {
        label: 'existing',
        kind: 'acl',
        permission: 'write',
        setup: (n) => policy(`q${n}`),
        call: (n) => json('PUT', `/v1/acl/policies/q${n}`, { rules: {} }),
        status: 200,
      },
    ],
    'DELETE /v1/acl/policies/{name}': [
      {
        kind: 'acl',
        permission: 'delete',
        setup: (n) => policy(`q${n}`),
        call: (n) => ({ method: 'DELETE', path: `/v1/acl/policies/q${n}` }),
        status: 200,
      },
    ],
    'GET /v1/audit': [
      {
        label: 'operator',
        kind: 'operator',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/audit' }),
        status: 200,
      },
      {
        label: 'acl',
        kind: 'acl',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/audit' }),
        status: 200,
      },
    ],
    'GET /metrics': [
      {
        kind: 'operator',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/metrics' }),
        status: 200,
      },
    ],
    'GET /v1/cluster': [
      {
        kind: 'operator',
        permission: 'read',
        call: () => ({ method: 'GET', path: '/v1/cluster' }),
        status: 200,
      },
    ],
  };
  const accessors = new Map<string, string>();
  const PUBLIC = ['GET /healthz', 'GET /readyz'];

  beforeAll(async () => {
    gateway = await startEmbeddedApp();
    base = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await gateway?.close();
  });

  it('has a case for every documented operation, and every case is documented', async () => {
    const document = (await gateway.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, Record<string, unknown>>>;
    }>();
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        at: `${method.toUpperCase()} ${path}`,
        declared: op[PERMISSION_KEY],
      })),
    );
    expect(documented.map((o) => o.at).sort()).toEqual([...Object.keys(CASES), ...PUBLIC].sort());
    // What each case shows enforced is what the document declares: the permission a case is
    // refused without and served with is one of the declared alternatives.
    for (const { at, declared } of documented) {
      if (PUBLIC.includes(at)) {
        expect(declared, at).toBe('public');
        continue;
      }
      const alternatives = parseRequirements(declared).flat();
      for (const c of CASES[at] ?? []) {
        if (c.permission === 'any') expect(declared, at).toBe('authenticated');
        else
          expect(
            alternatives.some((a) => a.kind === c.kind && a.anyOf.includes(c.permission as Permission)),
            `${at} declares ${String(declared)}, the case needs ${c.kind}:${c.permission}`,
          ).toBe(true);
      }
    }
  });

  it('answers the public operations without a token', async () => {
    for (const at of PUBLIC) {
      const [method, path] = at.split(' ') as [string, string];
      expect((await send({ method, path }, {})).status, at).toBe(200);
    }
  });

  it('answers what the document leaves out without a token: itself, its UI and the console', async () => {
    for (const [path, status] of [
      ['/openapi.json', 200],
      ['/docs/', 200],
      ['/docs/static/swagger-initializer.js', 200],
      ['/console', 301],
    ] as const) {
      expect((await send({ method: 'GET', path }, {})).status, path).toBe(status);
    }
    // The console's files are served when built (`npm run build`), and said to be missing when not.
    const page = await send({ method: 'GET', path: '/console/' }, {});
    if (page.status === 404) expect(page.text).toContain('the web console is not built');
    else expect(page.status).toBe(200);
  });

  const cases = Object.entries(CASES).flatMap(([at, list]) => list.map((c) => ({ at, c })));
  it.each(cases.map(({ at, c }) => [`${at}${c.label ? ` (${c.label})` : ''}`, at, c] as const))(
    '%s: 401 without a token, 403 without its permission, success with it',
    async (_title, _at, c) => {
      const n = String(++serial);
      await c.setup?.(n);
      const call = c.call(n);
      const anonymous = await send(call, {});
      expect(anonymous.status).toBe(401);
      expect((JSON.parse(anonymous.text) as { code: string }).code).toBe('ZKG_UNAUTHENTICATED');
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);

      if (c.permission !== 'any') {
        const others = PERMISSIONS.filter((p) => p !== c.permission);
        const lacking = await send(call, await tokenWith(rulesFor(c.kind, others)));
        expect(lacking.status).toBe(403);
        const problem = JSON.parse(lacking.text) as { code: string; detail: string };
        expect(problem.code).toBe('ZKG_FORBIDDEN');
        expect(problem.detail).toContain(c.permission);
      }

      const granted = await send(
        call,
        await tokenWith(c.permission === 'any' ? {} : rulesFor(c.kind, [c.permission])),
      );
      expect(granted.status, granted.text).toBe(c.status);
    },
  );
});
