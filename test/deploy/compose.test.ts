/**
 * docker/docker-compose.yml without a container engine: against the Compose Specification's JSON
 * Schema (the copy dclint 3.1 ships, schemas/compose.schema.json, taken from
 * github.com/compose-spec/compose-spec), through dclint's rules, against the one source of the
 * ensemble's zoo.cfg, and the gateways' settings through the gateway's own validation.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Ajv } from 'ajv';
import { DCLinter } from 'dclint';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadSettings } from '../../src/settings.js';
import { ROOT, readSourceZooCfg } from './deploy-files.js';

const schemaPath = `${dirname(createRequire(import.meta.url).resolve('dclint/package.json'))}/schemas/compose.schema.json`;
const { $schema: _metaSchema, ...schema } = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<
  string,
  unknown
>;
// Draft-07 is ajv's default; the file names its meta-schema by an https URL ajv does not know.
const validateCompose = new Ajv({ allErrors: true, strict: false }).compile(schema);

interface Service {
  hostname?: string;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  image?: string;
  ports?: string[];
  networks?: Record<string, { ipv4_address?: string }>;
  secrets?: ({ source: string; target?: string; uid?: string; gid?: string; mode?: number } | string)[];
}
const COMPOSE_PATH = `${ROOT}docker/docker-compose.yml`;
const COMPOSE_TEXT = readFileSync(COMPOSE_PATH, 'utf8');
// Compose resolves YAML merge keys (<<), so the file is read as it reads it.
const compose = parse(COMPOSE_TEXT, { merge: true }) as {
  services: Record<string, Service>;
  networks: Record<string, { ipam: { config: { subnet: string; ip_range: string }[] } }>;
  secrets: Record<string, Record<string, string>>;
};
const nginx = readFileSync(`${ROOT}docker/nginx.conf`, 'utf8');

/** What dclint reports, as far as used here (its .d.ts files do not resolve under NodeNext). */
interface DclintResult {
  messages: { type: 'error' | 'warning'; rule: string; message: string; line: number }[];
}

/** dclint's errors at its rules' default levels; its warnings (key order, quotes) are style. */
function dclintErrors(path: string): string[] {
  const linter = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] });
  return (linter.lintFiles([path], false) as DclintResult[])
    .flatMap((result) => result.messages)
    .filter((m) => m.type === 'error')
    .map((m) => `${m.line}: ${m.rule}: ${m.message}`);
}

describe('docker/docker-compose.yml', () => {
  it('satisfies the Compose Specification schema', () => {
    expect(validateCompose(compose), JSON.stringify(validateCompose.errors)).toBe(true);
  });

  it('would be rejected by the schema if it were broken', () => {
    const withLb = (lb: object): object => ({ ...compose, services: { ...compose.services, lb } });
    expect(validateCompose(withLb({ image: 'nginx:1.27-alpine', imagee: 'typo' }))).toBe(false);
    expect(
      validateCompose(
        withLb({ image: 'nginx:1.27-alpine', depends_on: { 'zkgate-1': { condition: 'up' } } }),
      ),
    ).toBe(false);
    expect(validateCompose({ ...compose, servics: {} })).toBe(false);
  });

  it("passes dclint's rules, and would not with a port open on every interface", () => {
    expect(dclintErrors(COMPOSE_PATH)).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'zkgate-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      writeFileSync(broken, COMPOSE_TEXT.replace("'127.0.0.1:8080:8080'", "'8080:8080'"));
      expect(dclintErrors(broken).join('\n')).toMatch(/no-unbound-port-interfaces/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const source = readSourceZooCfg();
  const zookeepers = Object.entries(compose.services).filter(([, s]) => s.image?.startsWith('zookeeper:'));

  it('runs every server of the source zoo.cfg, each with its myid and the file mounted as is', () => {
    expect(zookeepers.length).toBe(source.servers.size);
    for (const [name, service] of zookeepers) {
      const id = Number(service.environment?.['ZOO_MY_ID']);
      expect(source.servers.get(id), name).toBe(
        `${service.hostname}:2888:3888;${source.settings['clientPort']}`,
      );
      expect(service.volumes).toContain('./zookeeper/zoo.cfg:/conf/zoo.cfg:ro');
      // dataDir and dataLogDir on volumes of their own.
      expect(service.volumes).toContain(`${name}-data:${source.settings['dataDir']}`);
      expect(service.volumes).toContain(`${name}-datalog:${source.settings['dataLogDir']}`);
    }
  });

  const gateways = Object.entries(compose.services).filter(([, s]) => s.image === 'zkgate:local');

  it('runs two gateways against every server and Redis, all behind nginx', () => {
    expect(gateways.map(([name]) => name)).toEqual(['zkgate-1', 'zkgate-2']);
    const hosts = [...source.servers.values()].map(
      (line) => `${line.split(':')[0]}:${source.settings['clientPort']}`,
    );
    for (const [, gateway] of gateways) {
      expect(gateway.environment?.['ZKGATE_ZK']).toBe(hosts.join(','));
      expect(gateway.environment?.['ZKGATE_REDIS_URL']).toBe('redis://redis:6379');
    }
    const upstream = [...nginx.matchAll(/^\s*server ([\w-]+):8080\b/gm)].map((m) => m[1]);
    expect(upstream).toEqual(gateways.map(([name]) => name));
  });

  it('streams SSE through nginx unbuffered and outlasts long-polls', () => {
    const watch = /location \/v1\/watch \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(watch).toMatch(/proxy_buffering off;/);
    expect(watch).toMatch(/proxy_read_timeout 1h;/);
    // The default ZKGATE_LONGPOLL_MAX_WAIT_MS is 60 s.
    const rest = /location \/ \{([^}]*)\}/.exec(nginx)?.[1] ?? '';
    expect(Number(/proxy_read_timeout (\d+)s;/.exec(rest)?.[1])).toBeGreaterThan(60);
  });
});

describe('the bootstrap secret in docker/docker-compose.yml', () => {
  const gateways = Object.entries(compose.services).filter(([, s]) => s.image === 'zkgate:local');

  it("comes from the operator's ZKGATE_BOOTSTRAP_TOKEN, required before anything starts", () => {
    const secret = compose.secrets['zkgate_bootstrap_token'];
    expect(secret?.['environment']).toBe('ZKGATE_BOOTSTRAP_TOKEN');
    expect(secret?.['file']).toBeUndefined();
    // Compose's interpolation: unset or empty stops every command with this message.
    expect(secret?.['x-required']).toMatch(/^\$\{ZKGATE_BOOTSTRAP_TOKEN:\?[^}]*docs\/deploy\.md[^}]*\}$/);
    // No secret is in the repository, and docker/.env (where one may be kept) is never committed.
    expect(COMPOSE_TEXT).not.toMatch(/zkg_[A-Za-z0-9_-]{43}/);
    expect(readFileSync(`${ROOT}docker/.gitignore`, 'utf8').split('\n')).toContain('.env');
  });

  it('reaches each gateway as a file of mode 0400 owned by its user, never as a variable', () => {
    expect(gateways).toHaveLength(2);
    for (const [name, gateway] of gateways) {
      const env = gateway.environment ?? {};
      expect(gateway.secrets, name).toEqual([
        {
          source: 'zkgate_bootstrap_token',
          target: env['ZKGATE_BOOTSTRAP_TOKEN_FILE'],
          // The image's node user (docker/Dockerfile: USER node, uid and gid 1000).
          uid: '1000',
          gid: '1000',
          mode: 0o400,
        },
      ]);
      expect(env['ZKGATE_BOOTSTRAP_TOKEN_FILE']).toMatch(/^\/run\/secrets\//);
      expect(Object.keys(env)).not.toContain('ZKGATE_BOOTSTRAP_TOKEN');
      for (const value of Object.values(env)) expect(value).not.toMatch(/zkg_/);
    }
  });

  it("gives the gateways settings the gateway's own validation accepts", () => {
    for (const [name, gateway] of gateways) {
      const settings = loadSettings({ ...gateway.environment });
      expect(settings.bootstrapTokenFile, name).toBe('/run/secrets/zkgate_bootstrap_token');
      expect(settings.auth).toBe('on');
      // The per-client SSE limit counts clients again: no longer raised for nginx's sake.
      expect(settings.sseMaxClientCnxns).toBe(60);
    }
  });
});

describe('the client address behind nginx', () => {
  const gateways = Object.entries(compose.services).filter(([, s]) => s.image === 'zkgate:local');
  const lbAddress = compose.services['lb']?.networks?.['default']?.ipv4_address ?? '';
  const [ipam] = compose.networks['default']?.ipam.config ?? [];

  it('is believed by the gateways from nginx alone, whose address no other container can take', () => {
    for (const [, gateway] of gateways) expect(gateway.environment?.['ZKGATE_TRUST_PROXY']).toBe(lbAddress);
    const cidr = (range: string): BlockList => {
      const [address = '', bits = ''] = range.split('/');
      const list = new BlockList();
      list.addSubnet(address, Number(bits), 'ipv4');
      return list;
    };
    expect(cidr(ipam?.subnet ?? '').check(lbAddress, 'ipv4')).toBe(true);
    // Automatic addresses come from ip_range: nginx's is outside it.
    expect(cidr(ipam?.ip_range ?? '').check(lbAddress, 'ipv4')).toBe(false);
    expect(cidr(ipam?.subnet ?? '').check(ipam?.ip_range.split('/')[0] ?? '', 'ipv4')).toBe(true);
  });

  it('is what nginx saw, in every location it proxies, whatever the client wrote', () => {
    const locations = [...nginx.matchAll(/location ([^ ]+) \{([^}]*)\}/g)];
    expect(locations.length).toBeGreaterThan(1);
    for (const [, path, body] of locations) {
      expect(body, path).toMatch(/proxy_pass /);
      expect(body, path).toMatch(/proxy_set_header X-Forwarded-For \$remote_addr;/);
    }
    expect(nginx).not.toMatch(/proxy_add_x_forwarded_for/);
  });

  it("is the address the gateway counts a request under (Fastify with the gateways' setting)", async () => {
    const [, gateway] = gateways[0] ?? [];
    const { trustProxy } = loadSettings({ ...gateway?.environment });
    const app = Fastify({ trustProxy: [...(trustProxy ?? [])] });
    app.get('/ip', async (request) => request.ip);
    try {
      const ip = async (remoteAddress: string, forwarded: string): Promise<string> =>
        (await app.inject({ url: '/ip', remoteAddress, headers: { 'x-forwarded-for': forwarded } })).body;
      expect(await ip(lbAddress, '203.0.113.7')).toBe('203.0.113.7');
      // Had nginx appended to a client's header, the gateway would still take nginx's entry.
      expect(await ip(lbAddress, '198.51.100.1, 203.0.113.7')).toBe('203.0.113.7');
      // From anywhere else (another container, the host through the bridge), the header is ignored.
      expect(await ip('172.30.253.1', '198.51.100.1')).toBe('172.30.253.1');
      expect(await ip('172.30.253.130', '198.51.100.1')).toBe('172.30.253.130');
    } finally {
      await app.close();
    }
  });
});

/**
 * A Compose model with an override file applied as Compose applies it: mappings merged key by key
 * (services, environment, depends_on), `volumes` merged by their target, other sequences and
 * scalars replaced.
 */
function overlay(base: unknown, override: unknown, key = ''): unknown {
  if (Array.isArray(base) && Array.isArray(override) && key === 'volumes') {
    const target = (volume: string): string => volume.split(':')[1] ?? volume;
    const replaced = new Set(override.map((v) => target(String(v))));
    return [...base.filter((v) => !replaced.has(target(String(v)))), ...override];
  }
  const isMap = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(base) || !isMap(override)) return override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = k in base ? overlay(base[k], v, k) : v;
  return out;
}

describe('docker/docker-compose.sentinel.yml', () => {
  const OVERRIDE_PATH = `${ROOT}docker/docker-compose.sentinel.yml`;
  const override = parse(readFileSync(OVERRIDE_PATH, 'utf8'), { merge: true }) as typeof compose;
  const merged = overlay(compose, override) as typeof compose;
  const services = merged.services;
  const running = (script: string): [string, Service][] =>
    Object.entries(services).filter(([, s]) => s.command?.join(' ') === `sh /etc/redis/${script}`);

  it('satisfies the Compose Specification schema, alone and over the main file, and passes dclint', () => {
    expect(validateCompose(override), JSON.stringify(validateCompose.errors)).toBe(true);
    expect(validateCompose(merged), JSON.stringify(validateCompose.errors)).toBe(true);
    expect(dclintErrors(OVERRIDE_PATH)).toEqual([]);
  });

  it('replaces the single Redis by a primary, a replica and three sentinels on the scripts of docker/redis/', () => {
    const nodes = running('redis.sh');
    const sentinels = running('sentinel.sh');
    expect(nodes.map(([name]) => name)).toEqual(['redis', 'redis-replica']);
    expect(sentinels.map(([name]) => name)).toEqual(['sentinel-1', 'sentinel-2', 'sentinel-3']);
    for (const [name, service] of [...nodes, ...sentinels]) {
      // Each node announces its host name, which must be the name other containers resolve.
      expect(service.hostname, name).toBe(name);
      expect(service.volumes, name).toEqual(['./redis:/etc/redis:ro']);
      expect(service.environment, name).toEqual(nodes[0]?.[1].environment);
    }
    const env = nodes[0]?.[1].environment ?? {};
    expect(env['REDIS_SENTINEL_HOSTS']?.split(' ')).toEqual(sentinels.map(([name]) => name));
    expect(env['REDIS_FIRST']).toBe('redis');
    for (const script of ['primary.sh', 'redis.sh', 'sentinel.sh']) {
      expect(readFileSync(`${ROOT}docker/redis/${script}`, 'utf8')).toMatch(/\S/);
    }
  });

  it('points the gateways at the sentinels instead of the URL, once they are up', () => {
    const env = running('redis.sh')[0]?.[1].environment ?? {};
    const sentinels = running('sentinel.sh').map(([name]) => name);
    for (const [name, gateway] of Object.entries(services).filter(([, s]) => s.image === 'zkgate:local')) {
      const settings = loadSettings({ ...gateway.environment });
      expect(settings.redisUrl, name).toBeUndefined();
      expect(settings.redisSentinels).toEqual(sentinels.map((s) => `${s}:26379`));
      expect(settings.redisSentinelName).toBe(env['REDIS_MASTER_NAME']);
      for (const sentinel of sentinels) {
        expect(gateway.depends_on?.[sentinel]).toEqual({ condition: 'service_healthy' });
      }
      // The main file's dependencies stay.
      expect(gateway.depends_on?.['zk1']).toEqual({ condition: 'service_healthy' });
    }
  });
});
