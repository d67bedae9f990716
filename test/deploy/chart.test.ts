/**
 * The Helm chart without Helm or a cluster: values against values.schema.json (ajv, as Helm
 * checks them), every object rendered from the default values against the Kubernetes 1.33
 * schemas of kubernetes-models 4.5 (ServiceMonitor against prometheus-operator's CRD schema from
 * @kubernetes-models/prometheus-operator 4.4), and the ensemble's zoo.cfg against the one source.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { loadSettings, SETTINGS_ENV } from '../../src/settings.js';
import {
  CHART_DIR,
  RELEASE,
  ROOT,
  defaultValues,
  find,
  parseZooCfg,
  readSourceZooCfg,
  renderChart,
  renderNotes,
  withValues,
  type RenderedObject,
  type Values,
} from './deploy-files.js';
import type { LiveObject } from './helm-render.js';

const VALIDATORS: Record<string, (object: object) => void> = {
  'apps/v1 Deployment': (o) => new Deployment(o as never).validate(),
  'apps/v1 StatefulSet': (o) => new StatefulSet(o as never).validate(),
  'autoscaling/v2 HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never).validate(),
  'policy/v1 PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never).validate(),
  'v1 ConfigMap': (o) => new ConfigMap(o as never).validate(),
  'v1 Secret': (o) => new Secret(o as never).validate(),
  'v1 Service': (o) => new Service(o as never).validate(),
  'monitoring.coreos.com/v1 ServiceMonitor': (o) => new ServiceMonitor(o as never).validate(),
};

/** Validates one object against its kind's schema; an unknown kind fails too. */
function validateObject(object: RenderedObject['object']): void {
  const validator = VALIDATORS[`${object.apiVersion} ${object.kind}`];
  if (!validator) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  validator(object);
}

const schema = JSON.parse(readFileSync(`${CHART_DIR}values.schema.json`, 'utf8')) as object;
const validateValues = new Ajv({ allErrors: true, strict: true, strictTypes: false }).compile(schema);

describe('values.yaml', () => {
  it('satisfies values.schema.json', () => {
    expect(validateValues(defaultValues()), JSON.stringify(validateValues.errors)).toBe(true);
  });

  it.each([
    ['a typo in a key', { zookeeper: { config: { tickTme: 2000 } } }],
    ['an even number of voters', { zookeeper: { replicas: 4 } }],
    ['a whitelist without mntr', { zookeeper: { config: { fourLetterWordWhitelist: 'srvr,ruok' } } }],
    ['a number where zkgate settings are strings', { settings: { ZKGATE_LEASE_TTL_MS: 30000 } }],
    ['a setting zkgate does not have', { settings: { ZKGATE_NO_SUCH: '1' } }],
    ['an external ensemble without a connect string', { zookeeper: { enabled: false } }],
    ['an external Redis without a URL', { redis: { enabled: false } }],
    ['a bundled Redis in a mode it has not', { redis: { mode: 'cluster' } }],
    ['a Sentinel set of two, which loses its majority with one', { redis: { sentinel: { replicas: 2 } } }],
    [
      'an external Redis by URL and by sentinels',
      {
        redis: { enabled: false },
        externalRedis: { url: 'redis://a', sentinels: 's:26379', sentinelName: 'z' },
      },
    ],
    [
      'external sentinels without their name',
      { redis: { enabled: false }, externalRedis: { sentinels: 's:26379' } },
    ],
    [
      'cluster nodes that are no host:port list',
      { redis: { enabled: false }, externalRedis: { cluster: 'a b' } },
    ],
    ['the bootstrap secret as a setting', { settings: { ZKGATE_BOOTSTRAP_TOKEN: `zkg_${'a'.repeat(43)}` } }],
    ['auth as a setting', { settings: { ZKGATE_AUTH: 'off' } }],
    ['auth.enabled as a string', { auth: { enabled: 'off' } }],
    [
      'an existing secret that is no Secret name',
      { auth: { bootstrapToken: { existingSecret: 'My_Token' } } },
    ],
    ['a key with a dot', { auth: { bootstrapToken: { key: 'bootstrap.token' } } }],
    [
      'a ServiceMonitor without a key',
      { serviceMonitor: { authorization: { secretName: 'metrics', key: '' } } },
    ],
  ])('rejects %s', (_, patch) => {
    expect(validateValues(withValues(defaultValues(), patch))).toBe(false);
  });

  it('lets settings name every variable of src/settings.ts except those the chart or image sets and the secret', () => {
    const settings = (schema as { properties: { settings: { propertyNames: { enum: string[] } } } })
      .properties.settings;
    const managed = [
      'ZKGATE_ZK',
      'ZKGATE_REDIS_URL',
      'ZKGATE_REDIS_SENTINELS',
      'ZKGATE_REDIS_SENTINEL_NAME',
      'ZKGATE_REDIS_CLUSTER',
      // Secrets: they would sit in the ConfigMap.
      'ZKGATE_REDIS_PASSWORD',
      'ZKGATE_REDIS_SENTINEL_PASSWORD',
      'PORT',
      'HOST',
      'ZKGATE_DATA_DIR',
      'ZKGATE_AUTH',
      'ZKGATE_BOOTSTRAP_TOKEN_FILE',
      // A secret: it would sit in the ConfigMap.
      'ZKGATE_BOOTSTRAP_TOKEN',
    ];
    const expected = Object.values(SETTINGS_ENV).filter((name) => !managed.includes(name));
    expect([...settings.propertyNames.enum].sort()).toEqual([...expected].sort());
  });

  it('gives the chart the version of the package it deploys', () => {
    const chart = readFileSync(`${CHART_DIR}Chart.yaml`, 'utf8');
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    expect(chart).toContain(`appVersion: '${pkg.version}'`);
    expect(defaultValues()['image']).toMatchObject({ tag: pkg.version });
  });
});

describe('the chart rendered with its default values', () => {
  const objects = renderChart();

  it('produces the gateway, its autoscaler and budget, the ensemble and Redis', () => {
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort()).toEqual([
      'ConfigMap/zkgate-redis',
      'ConfigMap/zkgate-settings',
      'ConfigMap/zkgate-zookeeper',
      'Deployment/zkgate',
      'Deployment/zkgate-redis',
      'HorizontalPodAutoscaler/zkgate',
      'PodDisruptionBudget/zkgate',
      'PodDisruptionBudget/zkgate-zookeeper',
      'Secret/zkgate-bootstrap-token',
      'Service/zkgate',
      'Service/zkgate-redis',
      'Service/zkgate-zookeeper',
      'Service/zkgate-zookeeper-headless',
      'StatefulSet/zkgate-zookeeper',
    ]);
  });

  it('produces only objects valid against the Kubernetes 1.33 schemas', () => {
    for (const { template, object } of objects) {
      expect(() => validateObject(object), `${template}: ${object.kind}`).not.toThrow();
    }
  });

  it('would be caught by the validators if an object were broken', () => {
    const deployment = structuredClone(find(objects, 'Deployment', 'zkgate'));
    (deployment['spec'] as Record<string, unknown>)['replicas'] = 'two';
    expect(() => validateObject(deployment)).toThrow(/replicas/);
    const sts = structuredClone(find(objects, 'StatefulSet', 'zkgate-zookeeper'));
    delete (sts['spec'] as Record<string, unknown>)['selector'];
    expect(() => validateObject(sts)).toThrow(/selector/);
    expect(() => validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(
      /no schema/,
    );
    const secret = structuredClone(find(objects, 'Secret', 'zkgate-bootstrap-token'));
    secret['data'] = { token: 42 };
    expect(() => validateObject(secret)).toThrow(/data/);
  });

  it('probes the gateway on /readyz and /healthz and runs it as non-root', () => {
    const deployment = find(objects, 'Deployment', 'zkgate') as unknown as {
      spec: { template: { spec: { containers: Record<string, unknown>[]; securityContext: object } } };
    };
    const [container] = deployment.spec.template.spec.containers;
    expect(container?.['readinessProbe']).toMatchObject({ httpGet: { path: '/readyz', port: 'http' } });
    expect(container?.['livenessProbe']).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    expect(deployment.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
  });

  it('points the gateways at every member of the ensemble and at Redis', () => {
    const settings = find(objects, 'ConfigMap', 'zkgate-settings') as unknown as {
      data: Record<string, string>;
    };
    const member = (i: number): string =>
      `zkgate-zookeeper-${i}.zkgate-zookeeper-headless.${RELEASE.Namespace}.svc.cluster.local:2181`;
    expect(settings.data).toEqual({
      ZKGATE_ZK: [0, 1, 2].map(member).join(','),
      ZKGATE_REDIS_URL: 'redis://zkgate-redis:6379',
      LOG_LEVEL: 'info',
      ZKGATE_SESSION_TIMEOUT_MS: '15000',
      ZKGATE_SHUTDOWN_TIMEOUT_MS: '10000',
    });
  });

  it("writes the source zoo.cfg's settings, with server lines for the StatefulSet's pods", () => {
    const cm = find(objects, 'ConfigMap', 'zkgate-zookeeper') as unknown as { data: Record<string, string> };
    const rendered = parseZooCfg(cm.data['zoo.cfg'] ?? '');
    const source = readSourceZooCfg();
    expect(rendered.settings).toEqual(source.settings);
    expect(Object.keys(rendered.settings)).toEqual(Object.keys(source.settings));
    expect([...rendered.servers]).toEqual(
      [1, 2, 3].map((id) => [
        id,
        `zkgate-zookeeper-${id - 1}.zkgate-zookeeper-headless.${RELEASE.Namespace}.svc.cluster.local:2888:3888;2181`,
      ]),
    );
    // The same member ids and ports as compose's, only the host names differ.
    expect([...source.servers].map(([id, line]) => [id, line.replace(/^[^:]+/, '')])).toEqual(
      [...rendered.servers].map(([id, line]) => [id, line.replace(/^[^:]+/, '')]),
    );
  });

  it('starts every member from the pod ordinal with a myid matching its server line', () => {
    const cm = find(objects, 'ConfigMap', 'zkgate-zookeeper') as unknown as { data: Record<string, string> };
    const sts = find(objects, 'StatefulSet', 'zkgate-zookeeper') as unknown as {
      spec: { template: { spec: { containers: { env: { name: string; value: string }[] }[] } } };
    };
    const env = Object.fromEntries(
      sts.spec.template.spec.containers[0]?.env.map((e) => [e.name, e.value]) ?? [],
    );
    const run = startScript(cm.data, env, 'zkgate-zookeeper-2');
    expect(run.myid).toBe('3');
    expect(run.cfg).toBe(cm.data['zoo.cfg']?.replace('dataDir=/data', `dataDir=${run.dataDir}`));
  });
});

/**
 * Runs the ConfigMap's start.sh in a temp dir as the pod `hostname` would, with a stand-in for
 * zkServer.sh; returns the myid and zoo.cfg it wrote. The data dir is the one substitution.
 */
function startScript(
  data: Record<string, string>,
  env: Record<string, string>,
  hostname: string,
): { myid: string; cfg: string; dataDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zkgate-start-'));
  try {
    const dataDir = join(dir, 'data');
    const confDir = join(dir, 'conf');
    const bin = join(dir, 'bin');
    for (const d of [dataDir, confDir, bin]) mkdirSync(d);
    writeFileSync(
      join(dir, 'zoo.cfg'),
      (data['zoo.cfg'] ?? '').replace('dataDir=/data', `dataDir=${dataDir}`),
    );
    writeFileSync(join(dir, 'start.sh'), data['start.sh'] ?? '');
    writeFileSync(join(bin, 'zkServer.sh'), '#!/bin/sh\necho "started $*"\n');
    chmodSync(join(bin, 'zkServer.sh'), 0o755);
    const out = execFileSync('bash', [join(dir, 'start.sh')], {
      env: {
        ...env,
        ZK_CONFIG_SOURCE: join(dir, 'zoo.cfg'),
        ZOO_CONF_DIR: confDir,
        HOSTNAME: hostname,
        PATH: `${bin}:${process.env['PATH'] ?? ''}`,
      },
      encoding: 'utf8',
    });
    expect(out).toBe('started start-foreground\n');
    return {
      myid: readFileSync(join(dataDir, 'myid'), 'utf8').trim(),
      cfg: readFileSync(join(confDir, 'zoo.cfg'), 'utf8'),
      dataDir,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the chart rendered with other values', () => {
  it('adds observers after the voters, each knowing it is one', () => {
    const values = withValues(defaultValues(), { zookeeper: { replicas: 5, observers: 2 } });
    expect(validateValues(values)).toBe(true);
    const objects = renderChart(values);
    for (const { object } of objects) validateObject(object);
    const cm = find(objects, 'ConfigMap', 'zkgate-zookeeper') as unknown as { data: Record<string, string> };
    const { servers } = parseZooCfg(cm.data['zoo.cfg'] ?? '');
    expect([...servers.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(servers.get(5)).toMatch(/^zkgate-zookeeper-4\..*:2888:3888;2181$/);
    expect(servers.get(6)).toMatch(/^zkgate-zookeeper-observer-0\..*:2888:3888:observer;2181$/);

    const observers = find(objects, 'StatefulSet', 'zkgate-zookeeper-observer') as unknown as {
      spec: {
        replicas: number;
        template: { spec: { containers: { env: { name: string; value: string }[] }[] } };
      };
    };
    expect(observers.spec.replicas).toBe(2);
    const env = Object.fromEntries(
      observers.spec.template.spec.containers[0]?.env.map((e) => [e.name, e.value]) ?? [],
    );
    const run = startScript(cm.data, env, 'zkgate-zookeeper-observer-1');
    expect(run.myid).toBe('7');
    expect(run.cfg).toMatch(/\npeerType=observer\n$/);

    const settings = find(objects, 'ConfigMap', 'zkgate-settings') as unknown as {
      data: Record<string, string>;
    };
    expect(settings.data['ZKGATE_ZK']?.split(',')).toHaveLength(7);
  });

  it('points at an existing ensemble and Redis instead of bundling them', () => {
    const values = withValues(defaultValues(), {
      zookeeper: { enabled: false },
      externalZookeeper: { connectString: 'zk-a:2181,zk-b:2181,zk-c:2181/zkgate' },
      redis: { enabled: false },
      externalRedis: { url: 'rediss://cache.example:6380' },
      autoscaling: { enabled: false },
      serviceMonitor: { enabled: true },
    });
    expect(validateValues(values)).toBe(true);
    const objects = renderChart(values);
    for (const { object } of objects) validateObject(object);
    expect(objects.map((o) => o.object.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'ServiceMonitor',
    ]);
    const settings = find(objects, 'ConfigMap', 'zkgate-settings') as unknown as {
      data: Record<string, string>;
    };
    expect(settings.data).toMatchObject({
      ZKGATE_ZK: 'zk-a:2181,zk-b:2181,zk-c:2181/zkgate',
      ZKGATE_REDIS_URL: 'rediss://cache.example:6380',
    });
    expect(find(objects, 'Deployment', 'zkgate')).toMatchObject({ spec: { replicas: 2 } });
  });

  it('writes large numbers in full where Go would print them in exponent form', () => {
    const values = withValues(defaultValues(), { zookeeper: { config: { snapCount: 1_000_000 } } });
    const cm = find(renderChart(values), 'ConfigMap', 'zkgate-zookeeper') as unknown as {
      data: Record<string, string>;
    };
    expect(parseZooCfg(cm.data['zoo.cfg'] ?? '').settings['snapCount']).toBe('1000000');
  });
});

describe('Redis in the chart', () => {
  /** The objects for `patch`, after checking the values and every object against its schema. */
  const render = (patch: Values): RenderedObject[] => {
    const values = withValues(defaultValues(), patch);
    expect(validateValues(values), JSON.stringify(validateValues.errors)).toBe(true);
    const objects = renderChart(values);
    for (const { object } of objects) validateObject(object);
    return objects;
  };
  /** The gateway's settings as it would load them: its ConfigMap, with its own variables over it. */
  const gatewaySettings = (objects: RenderedObject[]) => {
    const { data } = find(objects, 'ConfigMap', 'zkgate-settings') as unknown as {
      data: Record<string, string>;
    };
    const env = gatewayEnv(objects);
    const fromSecrets = Object.fromEntries(
      Object.entries(secretRefs(objects)).map(([name]) => [name, `from ${name}`]),
    );
    return { data, settings: loadSettings({ ...data, ...env, ...fromSecrets }) };
  };
  /** The gateway's variables taken from Secrets: name -> the Secret and key. */
  const secretRefs = (objects: RenderedObject[]): Record<string, object> => {
    const [container] = gatewayPod(objects).containers;
    return Object.fromEntries(
      (container?.env ?? [])
        .filter((e) => e.valueFrom !== undefined)
        .map((e) => [e.name, (e.valueFrom as { secretKeyRef: object }).secretKeyRef]),
    );
  };
  const redisPods = (objects: RenderedObject[]) =>
    (
      find(objects, 'StatefulSet', 'zkgate-redis') as unknown as {
        spec: {
          replicas: number;
          template: {
            spec: {
              containers: {
                name: string;
                command: string[];
                env: EnvVar[];
                ports: { containerPort: number }[];
              }[];
            };
          };
        };
      }
    ).spec;

  it('starts Redis with the scripts of docker/redis/, as they are', () => {
    const { data } = find(renderChart(), 'ConfigMap', 'zkgate-redis') as unknown as {
      data: Record<string, string>;
    };
    expect(Object.keys(data).sort()).toEqual(['primary.sh', 'redis.sh', 'sentinel.sh']);
    for (const [name, text] of Object.entries(data)) {
      expect(text, name).toBe(readFileSync(`${ROOT}docker/redis/${name}`, 'utf8'));
    }
    const redis = find(renderChart(), 'Deployment', 'zkgate-redis') as unknown as {
      spec: { template: { spec: { containers: { command: string[] }[] } } };
    };
    expect(redis.spec.template.spec.containers[0]?.command).toEqual(['sh', '/etc/redis/redis.sh']);
  });

  it('runs Redis with Sentinel as an option: a Redis and a Sentinel per pod, by name, one down at a time', () => {
    const objects = render({ redis: { mode: 'sentinel' } });
    expect(
      objects
        .filter((o) => o.template.startsWith('redis'))
        .map((o) => `${o.object.kind}/${o.object.metadata.name}`)
        .sort(),
    ).toEqual([
      'ConfigMap/zkgate-redis',
      'PodDisruptionBudget/zkgate-redis',
      'Service/zkgate-redis-headless',
      'StatefulSet/zkgate-redis',
    ]);
    const pods = redisPods(objects);
    expect(pods.replicas).toBe(3);
    const [redis, sentinel] = pods.template.spec.containers;
    expect([redis?.name, redis?.command, redis?.ports[0]?.containerPort]).toEqual([
      'redis',
      ['sh', '/etc/redis/redis.sh'],
      6379,
    ]);
    expect([sentinel?.name, sentinel?.command, sentinel?.ports[0]?.containerPort]).toEqual([
      'sentinel',
      ['sh', '/etc/redis/sentinel.sh'],
      26379,
    ]);
    const domain = 'zkgate-redis-headless.zkgate-system.svc.cluster.local';
    const pod = (i: number): string => `zkgate-redis-${i}.${domain}`;
    const env = Object.fromEntries(sentinel?.env.map((e) => [e.name, e.value]) ?? []);
    expect(env).toEqual({
      REDIS_DOMAIN: domain,
      REDIS_SENTINEL_HOSTS: [0, 1, 2].map(pod).join(' '),
      REDIS_FIRST: pod(0),
      REDIS_MASTER_NAME: 'zkgate',
      REDIS_QUORUM: '2',
      REDIS_DOWN_AFTER_MS: '5000',
      REDIS_FAILOVER_TIMEOUT_MS: '60000',
    });
    expect(find(objects, 'Service', 'zkgate-redis-headless')).toMatchObject({
      spec: { clusterIP: 'None', publishNotReadyAddresses: true },
    });
    expect(find(objects, 'PodDisruptionBudget', 'zkgate-redis')).toMatchObject({
      spec: { maxUnavailable: 1 },
    });

    const { data, settings } = gatewaySettings(objects);
    expect(data['ZKGATE_REDIS_URL']).toBeUndefined();
    expect(settings.redisSentinels).toEqual([0, 1, 2].map((i) => `${pod(i)}:26379`));
    expect(settings.redisSentinelName).toBe('zkgate');
    expect(secretRefs(objects)).toEqual({});
  });

  it('takes the password of the bundled Redis from a Secret, into no ConfigMap', () => {
    const ref = { name: 'redis-auth', key: 'secret' };
    for (const mode of ['single', 'sentinel'] as const) {
      const objects = render({ redis: { mode, auth: { existingSecret: 'redis-auth', key: 'secret' } } });
      expect(secretRefs(objects), mode).toEqual(
        mode === 'single'
          ? { ZKGATE_REDIS_PASSWORD: ref }
          : { ZKGATE_REDIS_PASSWORD: ref, ZKGATE_REDIS_SENTINEL_PASSWORD: ref },
      );
      expect(gatewaySettings(objects).settings.redisPassword).toBe('from ZKGATE_REDIS_PASSWORD');
      const containers =
        mode === 'single'
          ? (find(objects, 'Deployment', 'zkgate-redis') as unknown as { spec: ReturnType<typeof redisPods> })
              .spec.template.spec.containers
          : redisPods(objects).template.spec.containers;
      for (const container of containers) {
        expect(container.env.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom, container.name).toEqual({
          secretKeyRef: ref,
        });
      }
      expect(Object.keys(gatewaySettings(objects).data).filter((k) => /PASSWORD/.test(k))).toEqual([]);
    }
  });

  it('points at an external Sentinel set or Cluster, with its passwords from a Secret', () => {
    const sentinels = render({
      redis: { enabled: false },
      externalRedis: {
        sentinels: 's1:26379,s2:26379,s3:26379',
        sentinelName: 'cache',
        auth: { existingSecret: 'cache-auth', sentinelPasswordKey: 'sentinel' },
      },
    });
    expect(sentinels.filter((o) => o.template.startsWith('redis'))).toEqual([]);
    expect(gatewaySettings(sentinels).settings).toMatchObject({
      redisSentinels: ['s1:26379', 's2:26379', 's3:26379'],
      redisSentinelName: 'cache',
    });
    expect(secretRefs(sentinels)).toEqual({
      ZKGATE_REDIS_PASSWORD: { name: 'cache-auth', key: 'password' },
      ZKGATE_REDIS_SENTINEL_PASSWORD: { name: 'cache-auth', key: 'sentinel' },
    });
    const cluster = render({
      redis: { enabled: false },
      externalRedis: { cluster: 'r1:6379,r2:6379,r3:6379' },
    });
    const { data, settings } = gatewaySettings(cluster);
    expect(settings.redisCluster).toEqual(['r1:6379', 'r2:6379', 'r3:6379']);
    expect(Object.keys(data).filter((k) => k.startsWith('ZKGATE_REDIS'))).toEqual(['ZKGATE_REDIS_CLUSTER']);
    expect(secretRefs(cluster)).toEqual({});
  });
});

/** What the gateway accepts as a secret (src/acl/tokens.ts). */
const ZKGATE_SECRET = /^zkg_[A-Za-z0-9_-]{43}$/;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: object;
}
interface GatewayPod {
  securityContext: { runAsUser: number; runAsGroup: number; fsGroup?: number };
  containers: {
    env?: EnvVar[];
    envFrom?: object[];
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  }[];
  volumes?: {
    name: string;
    secret?: { secretName: string; defaultMode?: number; items?: { key: string; path: string }[] };
  }[];
}

function gatewayPod(objects: RenderedObject[]): GatewayPod {
  const deployment = find(objects, 'Deployment', 'zkgate') as unknown as {
    spec: { template: { spec: GatewayPod } };
  };
  return deployment.spec.template.spec;
}

function gatewayEnv(objects: RenderedObject[]): Record<string, string | undefined> {
  const [container] = gatewayPod(objects).containers;
  return Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
}

/** The file the gateway reads the bootstrap secret from: the Secret, its key, mode and mount. */
function bootstrapFile(objects: RenderedObject[]): {
  path: string | undefined;
  secretName: string | undefined;
  key: string | undefined;
  mode: number | undefined;
  readOnly: boolean | undefined;
} {
  const pod = gatewayPod(objects);
  const path = gatewayEnv(objects)['ZKGATE_BOOTSTRAP_TOKEN_FILE'];
  const mount = pod.containers[0]?.volumeMounts?.find((m) => path?.startsWith(`${m.mountPath}/`));
  const volume = pod.volumes?.find((v) => v.name === mount?.name);
  const item = volume?.secret?.items?.find((i) => `${mount?.mountPath}/${i.path}` === path);
  return {
    path,
    secretName: volume?.secret?.secretName,
    key: item?.key,
    mode: volume?.secret?.defaultMode,
    readOnly: mount?.readOnly,
  };
}

function secretValue(objects: RenderedObject[], key = 'token'): string {
  const secret = find(objects, 'Secret', 'zkgate-bootstrap-token') as unknown as {
    data: Record<string, string>;
  };
  return Buffer.from(secret.data[key] ?? '', 'base64').toString('utf8');
}

function serviceMonitorCredentials(objects: RenderedObject[]): object | undefined {
  const monitor = find(objects, 'ServiceMonitor', 'zkgate') as unknown as {
    spec: { endpoints: { path: string; authorization?: object }[] };
  };
  return monitor.spec.endpoints.find((e) => e.path === '/metrics')?.authorization;
}

/** Every string in an object's environment variables and ConfigMap data, with where it is. */
function exposedStrings(objects: RenderedObject[]): [string, string][] {
  const found: [string, string][] = [];
  const walk = (where: string, node: unknown, inEnv: boolean): void => {
    if (Array.isArray(node)) node.forEach((v, i) => walk(`${where}[${i}]`, v, inEnv));
    else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        const env = inEnv || key === 'env' || key === 'envFrom';
        walk(`${where}.${key}`, value, env);
      }
    } else if (inEnv && typeof node === 'string') found.push([where, node]);
  };
  for (const { object } of objects) {
    const name = `${object.kind}/${object.metadata.name}`;
    if (object.kind === 'ConfigMap') walk(name, { env: object['data'] }, true);
    else walk(name, object['spec'], false);
  }
  return found;
}

describe('the bootstrap secret in the chart', () => {
  const objects = renderChart();

  it('is generated into a Secret the chart creates, in the shape the gateway accepts', () => {
    const secret = find(objects, 'Secret', 'zkgate-bootstrap-token');
    expect(secret).toMatchObject({
      type: 'Opaque',
      metadata: { annotations: { 'helm.sh/resource-policy': 'keep' } },
    });
    expect(Object.keys(secret['data'] as object)).toEqual(['token']);
    expect(secretValue(objects)).toMatch(ZKGATE_SECRET);
    // randAlphaNum: 43 of 62 characters, 256 bits.
    expect(secretValue(objects)).toMatch(/^zkg_[A-Za-z0-9]{43}$/);
  });

  it('is new at each helm template, and kept as installed by an upgrade', () => {
    const installed = find(objects, 'Secret', 'zkgate-bootstrap-token');
    expect(secretValue(renderChart())).not.toBe(secretValue(objects));
    const live = {
      ...structuredClone(installed),
      metadata: { name: 'zkgate-bootstrap-token', namespace: RELEASE.Namespace },
    };
    const upgraded = renderChart(defaultValues(), [live as LiveObject]);
    expect(find(upgraded, 'Secret', 'zkgate-bootstrap-token')['data']).toEqual(installed['data']);
    // Another release's namespace, or a Secret without the key: nothing to keep, a new one.
    const elsewhere = { ...live, metadata: { ...live.metadata, namespace: 'other' } };
    expect(secretValue(renderChart(defaultValues(), [elsewhere as LiveObject]))).not.toBe(
      secretValue(objects),
    );
    const otherKey = renderChart(
      withValues(defaultValues(), { auth: { bootstrapToken: { key: 'secret' } } }),
      [live as LiveObject],
    );
    expect(secretValue(otherKey, 'secret')).toMatch(ZKGATE_SECRET);
    expect(secretValue(otherKey, 'secret')).not.toBe(secretValue(objects));
  });

  it('reaches the gateways as a read-only file of mode 0400, its group theirs, and never as a variable', () => {
    expect(bootstrapFile(objects)).toEqual({
      path: '/var/run/secrets/zkgate/bootstrap-token',
      secretName: 'zkgate-bootstrap-token',
      key: 'token',
      mode: 0o400,
      readOnly: true,
    });
    // Files of a secret volume are root's: readable by the gateway through fsGroup only.
    const { securityContext } = gatewayPod(objects);
    expect(securityContext.fsGroup).toBe(securityContext.runAsGroup);
    expect(securityContext.runAsUser).not.toBe(0);
    expect(gatewayEnv(objects)['ZKGATE_AUTH']).toBe('on');
  });

  it('is in no environment variable and no ConfigMap, by value or by reference', () => {
    const secret = secretValue(objects);
    const exposed = exposedStrings(objects);
    expect(exposed.length).toBeGreaterThan(10);
    for (const [where, value] of exposed) {
      expect(value, where).not.toMatch(/zkg_/);
      expect(value, where).not.toContain(secret);
    }
    expect(exposed.filter(([where]) => /secretKeyRef|secretRef/.test(where))).toEqual([]);
    for (const { object } of objects.filter((o) => o.object.kind !== 'Secret')) {
      const text = JSON.stringify(object);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret).toString('base64'));
    }
    const names = gatewayPod(objects).containers.flatMap((c) => (c.env ?? []).map((e) => e.name));
    expect(names).not.toContain('ZKGATE_BOOTSTRAP_TOKEN');
  });

  it('comes from an existing Secret when one is named, and the chart creates none', () => {
    const values = withValues(defaultValues(), {
      auth: { bootstrapToken: { existingSecret: 'zkgate-admin', key: 'bootstrap' } },
      serviceMonitor: { enabled: true },
    });
    expect(validateValues(values)).toBe(true);
    const rendered = renderChart(values);
    for (const { object } of rendered) validateObject(object);
    expect(rendered.filter((o) => o.object.kind === 'Secret')).toEqual([]);
    expect(bootstrapFile(rendered)).toMatchObject({ secretName: 'zkgate-admin', key: 'bootstrap' });
    expect(serviceMonitorCredentials(rendered)).toEqual({
      type: 'Bearer',
      credentials: { name: 'zkgate-admin', key: 'bootstrap' },
    });
    expect(renderNotes(values)).toContain(
      "kubectl get secret --namespace zkgate-system zkgate-admin \\\n    -o jsonpath='{.data.bootstrap}' | base64 -d",
    );
  });

  it('authenticates the ServiceMonitor with it by default, with the Secret named otherwise', () => {
    const monitor = (patch: Values): object | undefined => {
      const values = withValues(defaultValues(), { serviceMonitor: { enabled: true, ...patch } });
      expect(validateValues(values)).toBe(true);
      const rendered = renderChart(values);
      for (const { object } of rendered) validateObject(object);
      return serviceMonitorCredentials(rendered);
    };
    expect(monitor({})).toEqual({
      type: 'Bearer',
      credentials: { name: 'zkgate-bootstrap-token', key: 'token' },
    });
    expect(monitor({ authorization: { secretName: 'zkgate-metrics', key: 'secret' } })).toEqual({
      type: 'Bearer',
      credentials: { name: 'zkgate-metrics', key: 'secret' },
    });
  });

  it('tells how to read it after an install, and warns when auth is off', () => {
    const notes = renderNotes();
    expect(notes).toContain(
      "kubectl get secret --namespace zkgate-system zkgate-bootstrap-token \\\n    -o jsonpath='{.data.token}' | base64 -d",
    );
    expect(notes).toContain('http://zkgate.zkgate-system.svc.cluster.local:80');
    expect(notes).not.toMatch(/ServiceMonitor|auth.enabled is false/);
    expect(renderNotes(withValues(defaultValues(), { serviceMonitor: { enabled: true } }))).toMatch(
      /The ServiceMonitor sends this management token/,
    );
    const off = withValues(defaultValues(), { auth: { enabled: false } });
    expect(renderNotes(off)).toMatch(/auth.enabled is false \(ZKGATE_AUTH=off\)/);
    expect(renderNotes(off)).not.toContain('kubectl get secret');
    expect(gatewayEnv(renderChart(off))['ZKGATE_AUTH']).toBe('off');
  });
});
