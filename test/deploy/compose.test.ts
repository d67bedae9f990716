/**
 * docker/docker-compose.yml without a container engine: against the Compose Specification's JSON
 * Schema (the copy dclint 3.1 ships, schemas/compose.schema.json, taken from
 * github.com/compose-spec/compose-spec), and against the one source of the ensemble's zoo.cfg.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
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
  environment?: Record<string, string>;
  volumes?: string[];
  image?: string;
}
// Compose resolves YAML merge keys (<<), so the file is read as it reads it.
const compose = parse(readFileSync(`${ROOT}docker/docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const nginx = readFileSync(`${ROOT}docker/nginx.conf`, 'utf8');

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
