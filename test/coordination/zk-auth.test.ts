/**
 * `ZKGATE_ZK_AUTH` against a real ZooKeeper: zkgate's tree is closed to every other client, while
 * the services path stays open to Curator / Spring Cloud Zookeeper apps (`ZKGATE_SERVICES_ACL`).
 * Through the services, not HTTP: what is checked is what ZooKeeper lets a plain client do.
 */
import { systemActor } from '../../src/acl/actor.js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/compose.js';
import { digestId } from '../../src/coordination/acl.js';
import { ErrorCode } from '../../src/coordination/errors.js';
import { CreateMode, Perms } from '../../src/coordination/store.js';
import { ZooKeeperStore } from '../../src/coordination/zookeeper.js';
import { loadSettings } from '../../src/settings.js';
import { failure } from '../contract/contract.js';
import { startCuratorProbe, type CuratorProbe } from '../support/curator.js';
import { BOOTSTRAP_ENV } from '../support/tokens.js';
import { startZooKeeper, type ZkStandalone } from '../support/zookeeper.js';

const OPERATOR = systemActor('zk-auth test');

const IDENTITY = 'zkgate:s3cret';
const OWN_ACL = [{ perms: Perms.ALL, scheme: 'digest', id: digestId(IDENTITY) }];

describe('ZKGATE_ZK_AUTH on a real ZooKeeper', () => {
  const logger = pino({ level: 'silent' });
  let zk: ZkStandalone;
  let plain: ZooKeeperStore;
  const opened: Services[] = [];
  const probes: CuratorProbe[] = [];

  const start = async (env: Record<string, string>): Promise<Services> => {
    const services = await createServices(
      // The bootstrap secret given, not generated: a generated one would be written to ./data.
      loadSettings({
        ZKGATE_ZK: zk.connectString,
        ZKGATE_SESSION_TIMEOUT_MS: '6000',
        ...BOOTSTRAP_ENV,
        ...env,
      }),
      logger,
    );
    opened.push(services);
    return services;
  };

  beforeAll(async () => {
    zk = await startZooKeeper();
    plain = await ZooKeeperStore.connect({ connectString: zk.connectString });
  });

  afterAll(async () => {
    await Promise.all(probes.map((p) => p.close().catch(() => undefined)));
    await Promise.all(opened.map((s) => s.close()));
    await plain?.close();
    await zk?.stop();
  });

  it("closes zkgate's tree to a client without the identity and keeps the services path open", async () => {
    const services = await start({ ZKGATE_ZK_AUTH: `digest:${IDENTITY}` });
    await services.config.publish(OPERATOR, 'team/app', { body: Buffer.from('{"limit":1}'), format: 'json' });
    await services.registry.writer.register(OPERATOR, 'orders', 'zkgate-1', {
      address: '10.0.0.1',
      port: 8080,
    });
    const document = '/zkgate/config/team/app';

    for (const attempt of [
      () => plain.getData(document),
      () => plain.getChildren('/zkgate'),
      () => plain.getACL('/zkgate'),
      () => plain.setData(document, Buffer.from('{"limit":1000}')),
      () => plain.create('/zkgate/config/team/forged', Buffer.from('{}')),
      () => plain.delete('/zkgate/gateways', -1),
      () => plain.setACL('/zkgate', [{ perms: Perms.ALL, scheme: 'world', id: 'anyone' }]),
    ]) {
      expect((await failure(attempt())).code).toBe(ErrorCode.NO_AUTH);
    }
    expect((await services.store.getACL(document)).acl).toEqual(OWN_ACL);
    expect((await services.store.getACL('/zkgate')).acl).toEqual(OWN_ACL);
    expect(services.config.get('team/app').version).toBe(1);

    // The services path: readable and writable by anyone, as Curator apps expect.
    const instance = await plain.getData('/services/orders/zkgate-1');
    expect(JSON.parse(instance.data.toString())).toMatchObject({ name: 'orders', id: 'zkgate-1' });
    await plain.create('/services/orders/plain-1', Buffer.from('{}'), CreateMode.EPHEMERAL);
    await plain.delete('/services/orders/plain-1');

    // The identity itself reads and writes, from any client that authenticates as it.
    const same = await ZooKeeperStore.connect({ connectString: zk.connectString });
    try {
      await same.addAuth('digest', Buffer.from(IDENTITY));
      expect((await same.getData(document)).data.toString()).toBe('{"limit":1}');
    } finally {
      await same.close();
    }
  });

  it('gives an open tree of an earlier start the identity ACL, leaving the services path alone', async () => {
    const env = { ZKGATE_ROOT: '/zkgate-upgraded', ZKGATE_SERVICES_PATH: '/zkgate-upgraded/services' };
    const before = await start(env);
    await before.config.publish(OPERATOR, 'team/old', { body: Buffer.from('{"v":1}'), format: 'json' });
    await before.registry.writer.register(OPERATOR, 'orders', 'old-1', { address: '10.0.0.2', port: 8080 });
    await before.close();
    expect((await plain.getData('/zkgate-upgraded/config/team/old')).data.toString()).toBe('{"v":1}');

    const after = await start({ ...env, ZKGATE_ZK_AUTH: `digest:${IDENTITY}` });
    for (const path of ['/zkgate-upgraded', '/zkgate-upgraded/config/team/old']) {
      expect((await failure(plain.getData(path))).code).toBe(ErrorCode.NO_AUTH);
      expect((await after.store.getACL(path)).acl).toEqual(OWN_ACL);
    }
    expect(after.config.get('team/old').version).toBe(1);
    // The services path inside the root keeps its own (open) ACL.
    expect((await plain.getData('/zkgate-upgraded/services/orders/old-1')).stat.version).toBe(0);
  });

  it('refuses to start on a znode of its tree that it may not administer', async () => {
    await plain.create('/zkgate-foreign');
    await plain.create('/zkgate-foreign/theirs', undefined, CreateMode.PERSISTENT, [
      { perms: Perms.ALL, scheme: 'digest', id: digestId('someone:else') },
    ]);
    await expect(
      start({ ZKGATE_ROOT: '/zkgate-foreign', ZKGATE_ZK_AUTH: `digest:${IDENTITY}` }),
    ).rejects.toMatchObject({
      code: ErrorCode.NO_AUTH,
      path: '/zkgate-foreign/theirs',
    });
    // Nothing half-done: the root is given zkgate's ACL last.
    expect((await plain.getChildren('/zkgate-foreign')).children).toEqual(['theirs']);
  });

  it('gives service znodes it creates ZKGATE_SERVICES_ACL', async () => {
    const services = await start({
      ZKGATE_ROOT: '/zkgate-strict',
      ZKGATE_SERVICES_PATH: '/services-strict',
      ZKGATE_ZK_AUTH: `digest:${IDENTITY}`,
      ZKGATE_SERVICES_ACL: 'world:anyone:r,auth::cdrwa',
    });
    await services.registry.writer.register(OPERATOR, 'payments', 'p-1', { address: '10.0.0.3', port: 8080 });
    expect((await plain.getData('/services-strict/payments/p-1')).data.length).toBeGreaterThan(0);
    expect((await failure(plain.create('/services-strict/payments/forged'))).code).toBe(ErrorCode.NO_AUTH);
    expect((await services.store.getACL('/services-strict/payments')).acl).toEqual([
      { perms: Perms.READ, scheme: 'world', id: 'anyone' },
      ...OWN_ACL,
    ]);
  });

  it('shares the registry with Curator apps under the default services ACL', async () => {
    const services = await start({
      ZKGATE_ROOT: '/zkgate-curator',
      ZKGATE_SERVICES_PATH: '/services-curator',
      ZKGATE_ZK_AUTH: `digest:${IDENTITY}`,
    });
    const probe = await startCuratorProbe(zk.connectString, '/services-curator');
    probes.push(probe);
    await probe.register({
      service: 'inventory',
      id: 'spring-1',
      address: '10.1.0.5',
      port: 8443,
      payloadClass: 'spring',
      payload: null,
    });
    await expect
      .poll(
        async () =>
          (await services.registry.reads.listing('inventory').catch(() => undefined))?.instances.map(
            (i) => i.id,
          ),
        {
          timeout: 10_000,
        },
      )
      .toEqual(['spring-1']);

    await services.registry.writer.register(OPERATOR, 'inventory', 'zkgate-2', {
      address: '10.1.0.6',
      port: 8080,
    });
    expect((await probe.query('inventory')).map((i) => i.id).sort()).toEqual(['spring-1', 'zkgate-2']);
  });
});
