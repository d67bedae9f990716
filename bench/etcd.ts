/**
 * A throw-away etcd (Debian's etcd-server 3.4) for benchmarks: one member on free loopback ports,
 * its own temp data dir, durable as shipped (every write fsynced), spoken to over its HTTP/JSON
 * gateway (`/v3/kv/range`, `/v3/kv/put`, `/v3/watch`), where keys and values travel base64.
 */
import { request } from 'undici';
import {
  ServerProcess,
  freePorts,
  launch,
  makeTempDir,
  requireExecutable,
} from '../test/support/processes.js';

const LOOPBACK = '127.0.0.1';

export interface EtcdServer {
  /** `http://127.0.0.1:port` */
  readonly url: string;
  stop(): Promise<void>;
}

export const base64 = (value: string | Buffer): string => Buffer.from(value).toString('base64');

export async function startEtcd(): Promise<EtcdServer> {
  requireExecutable('etcd', 'apt-get install -y etcd-server');
  const dir = await makeTempDir('zkgate-etcd-');
  const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
  const url = `http://${LOOPBACK}:${clientPort}`;
  const peer = `http://${LOOPBACK}:${peerPort}`;
  const serverProcess = new ServerProcess({
    name: `etcd ${LOOPBACK}:${clientPort}`,
    command: 'etcd',
    args: [
      ...['--name', 'bench', '--data-dir', `${dir}/data`],
      ...['--listen-client-urls', url, '--advertise-client-urls', url],
      ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
      ...['--initial-cluster', `bench=${peer}`, '--logger', 'zap', '--log-level', 'warn'],
    ],
    cwd: dir,
    ports: [clientPort, peerPort],
    isReady: async () => {
      try {
        const { statusCode, body } = await request(`${url}/health`);
        const health = (await body.json()) as { health?: string };
        return statusCode === 200 && health.health === 'true';
      } catch {
        return false;
      }
    },
    startTimeoutMs: 20_000,
  });
  await launch(serverProcess);
  return { url, stop: () => serverProcess.stop() };
}

/** `PUT key value` over the HTTP gateway; resolves with the revision it created. */
export async function etcdPut(url: string, key: string, value: string | Buffer): Promise<number> {
  const { statusCode, body } = await request(`${url}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: base64(key), value: base64(value) }),
  });
  const answer = (await body.json()) as { header?: { revision?: string } };
  if (statusCode !== 200) throw new Error(`etcd put ${key}: HTTP ${statusCode}`);
  return Number(answer.header?.revision);
}
