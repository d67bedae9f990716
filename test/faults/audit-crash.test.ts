/**
 * The audit trail's acceptance: a gateway SIGKILLed in a concurrent stream of publishes,
 * registrations, status and policy changes and deregistrations. On its data directory afterwards,
 * every change that exists has exactly one record and no record exists without its change.
 *
 * Per resource, the records in sequence order must chain the resource's versions (each record's
 * `versionBefore` is the previous record's `versionAfter`, starting from nothing) and end at the
 * version the resource has now; the last record's zxid is the one that wrote the resource's
 * current data. A change without its record breaks the chain, a record without its change ends
 * it at a version the resource never reached. Each namespace's history (kept whole here) holds
 * exactly the versions its publish records name.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditDirectory, parseAuditRecord, type AuditRecord } from '../../src/acl/audit.js';
import { parseMeta, versionOf } from '../../src/config/cache.js';
import { ConfigLayout } from '../../src/config/namespace.js';
import { ErrorCode, isStoreError } from '../../src/coordination/errors.js';
import { EmbeddedServer } from '../../src/coordination/embedded/index.js';
import type { CoordinationStore } from '../../src/coordination/store.js';
import { ready, startGateway } from '../support/gateway-process.js';
import { MANAGEMENT } from '../support/tokens.js';
import { makeTempDir } from '../support/processes.js';

const ROOT = '/zkgate';
const SERVICES = '/services';
const NAMESPACES = ['crash/ns0', 'crash/ns1'];
const SERVICE = 'crash';
const INSTANCES = ['i-0', 'i-1', 'i-shared'];
/** Acknowledged writes before the kill: enough that it lands mid-stream, few enough for a CI budget. */
const ACKS_BEFORE_KILL = 150;

/** Concurrent writers through one gateway: each loop sends its next write once the last one answered. */
class WriteStream {
  acks = 0;
  /** Acknowledged publishes: each wrote one record, durably. */
  publishes = 0;
  private running = true;
  private loops: Promise<void>[] = [];
  private reached: (() => void) | undefined;

  constructor(private readonly url: string) {}

  start(): void {
    const publisher = async (n: number) => {
      for (let i = 0; this.running; i++) {
        await this.send('PUT', `/v1/config/${NAMESPACES[(n + i) % NAMESPACES.length]}`, { n, i });
      }
    };
    const registrar = async (n: number) => {
      for (let i = 0; this.running; i++) {
        const id = INSTANCES[(n + i) % INSTANCES.length];
        const instance = `/v1/services/${SERVICE}/instances/${id}`;
        await this.send('PUT', instance, { address: '10.0.0.1', port: 8000 + (i % 100) });
        await this.send('PUT', `${instance}/status`, { status: 'DRAINING' });
        await this.send('PUT', `/v1/services/${SERVICE}`, { protectThreshold: (i % 10) / 10 });
        await this.send('DELETE', `${instance}/status`);
        if (i % 3 === 2) await this.send('DELETE', instance);
      }
    };
    this.loops = [0, 1, 2].map(publisher).concat([0, 1].map(registrar));
  }

  /** Resolves once `count` writes were acknowledged. */
  until(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.reached = () => {
        if (this.acks >= count) resolve();
      };
    });
  }

  /** Stop sending; resolves once every loop has ended (their requests fail with the gateway gone). */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async send(method: string, path: string, body?: unknown): Promise<void> {
    if (!this.running) return;
    const ok = await fetch(`${this.url}${path}`, {
      method,
      ...(body === undefined
        ? { headers: MANAGEMENT }
        : { body: JSON.stringify(body), headers: { ...MANAGEMENT, 'content-type': 'application/json' } }),
    })
      .then(async (res) => {
        await res.arrayBuffer();
        return res.ok;
      })
      .catch(() => undefined);
    // No answer: the gateway is gone.
    if (ok === undefined) {
      this.running = false;
      return;
    }
    if (ok) this.acks++;
    if (ok && path.startsWith('/v1/config/')) this.publishes++;
    this.reached?.();
  }
}

async function readRecords(store: CoordinationStore): Promise<AuditRecord[]> {
  const directory = auditDirectory(ROOT);
  const { children } = await store.getChildren(directory);
  return Promise.all(
    children.sort().map(async (name) => {
      const node = await store.getData(`${directory}/${name}`);
      const record = parseAuditRecord(name, node.data, node.stat);
      expect(record, `record ${name}`).toBeDefined();
      return record!;
    }),
  );
}

/** The version a resource has now and the zxid of its current data; undefined when it does not exist. */
async function current(
  store: CoordinationStore,
  resource: string,
): Promise<{ version: number; mzxid: bigint } | undefined> {
  const orMissing = async <T>(read: Promise<T>): Promise<T | undefined> =>
    read.catch((err: unknown) => {
      if (isStoreError(err, ErrorCode.NO_NODE)) return undefined;
      throw err;
    });
  const [kind, name = ''] = resource.split(/:(.*)/s);
  if (kind === 'config') {
    const layout = new ConfigLayout(ROOT);
    const [doc, meta] = await Promise.all([
      orMissing(store.getData(layout.document(name))),
      orMissing(store.getData(layout.metaOf(name))),
    ]);
    if (!doc || !meta || !parseMeta(meta.data).live) return undefined;
    return { version: versionOf(parseMeta(meta.data), doc.stat), mzxid: doc.stat.mzxid };
  }
  const path = name.includes('/') ? `${SERVICES}/${name}` : `${ROOT}/policies/${name}`;
  const stat = await store.exists(path);
  return stat ? { version: stat.version, mzxid: stat.mzxid } : undefined;
}

describe('the audit trail when the gateway is SIGKILLed in a stream of writes', () => {
  it('holds exactly one record for every change that exists, and none without its change', async () => {
    const dataDir = await makeTempDir('zkgate-audit-crash-');
    try {
      const gateway = await startGateway({
        ZKGATE_DATA_DIR: dataDir,
        ZKGATE_HISTORY_LIMIT: '10000',
        LOG_LEVEL: 'warn',
      });
      await ready(gateway);
      const stream = new WriteStream(gateway.url);
      const enough = stream.until(ACKS_BEFORE_KILL);
      stream.start();
      await enough;
      gateway.child.kill('SIGKILL');
      await gateway.exited;
      await stream.stop();
      // The holder is dead for sure (it exited): its lock lease need not be waited out.
      await rm(join(dataDir, 'zkgate-embedded.lock'), { recursive: true, force: true });

      const server = await EmbeddedServer.open({ dataDir });
      try {
        const store = server.connect();
        const records = await readRecords(store);
        expect(records.filter((r) => r.action === 'config.publish').length).toBeGreaterThanOrEqual(
          stream.publishes,
        );
        const resources = [
          ...NAMESPACES.map((ns) => `config:${ns}`),
          ...INSTANCES.map((id) => `service:${SERVICE}/${id}`),
          `service:${SERVICE}`,
        ];
        // The first start's bootstrap token has its record too.
        const written = records.filter((r) => r.action !== 'acl.token.create');
        expect(records.length - written.length).toBe(1);
        expect(new Set(written.map((r) => r.resource))).toEqual(new Set(resources));
        for (const resource of resources) {
          const chain = records.filter((r) => r.resource === resource);
          let version: number | null = null;
          for (const record of chain) {
            expect(record.versionBefore, `${resource}: record ${record.id} follows version ${version}`).toBe(
              version,
            );
            version = record.versionAfter;
          }
          const now = await current(store, resource);
          expect(version, `${resource}: the last record names the current version`).toBe(
            now?.version ?? null,
          );
          if (now) expect(chain.at(-1)!.index, `${resource}: the last record wrote its data`).toBe(now.mzxid);
        }
        const layout = new ConfigLayout(ROOT);
        for (const ns of NAMESPACES) {
          const { children } = await store.getChildren(layout.historyOf(ns));
          const published = records.filter((r) => r.resource === `config:${ns}`).map((r) => r.versionAfter);
          expect(
            children.map(Number).sort((a, b) => a - b),
            ns,
          ).toEqual(published);
        }
      } finally {
        await server.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
