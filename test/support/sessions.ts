/**
 * Forced session expiry against a real ZooKeeper, the way Curator's `KillSession` did it: a
 * second client joins the session with its id and password and closes it, so the server ends
 * the session. The owner must be cut off meanwhile (see `TcpProxy.suspend`): otherwise it
 * reconnects at once, takes the session back, and the close ends only the killer's connection.
 */
import library from 'node-zookeeper-client';
import type { SessionCredentials } from '../../src/coordination/zookeeper/session.js';

interface KillerClient {
  connect(): void;
  close(): void;
  once(event: 'connected' | 'disconnected', listener: () => void): void;
}

const zookeeper = library as unknown as {
  createClient(
    connectString: string,
    options: { sessionTimeout: number; sessionId: Buffer; sessionPassword: Buffer },
  ): KillerClient;
};

export async function killSession(connectString: string, credentials: SessionCredentials): Promise<void> {
  const killer = zookeeper.createClient(connectString, {
    sessionTimeout: credentials.timeoutMs,
    sessionId: credentials.sessionId,
    sessionPassword: credentials.password,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('killer client did not connect')), 10_000);
    killer.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
    killer.connect();
  });
  await new Promise<void>((resolve) => {
    killer.once('disconnected', resolve);
    killer.close();
  });
}
