/**
 * node-zookeeper-client as the adapter sees it: its typings are too loose to use (see RawModule),
 * so the part the adapter relies on is declared here once, with the check that the patch those
 * parts depend on was applied.
 */
import { createRequire } from 'node:module';
import library from 'node-zookeeper-client';

/**
 * The part of node-zookeeper-client this adapter uses, typed here: the published typings are
 * incomplete (transactions, connection manager) and wrong in places (callback error types).
 */
interface RawModule {
  createClient(
    connectString: string,
    options: {
      sessionTimeout: number;
      spinDelay: number;
      retries: number;
      /** Patched: deadline of one attempt (connect and handshake). */
      connectTimeout: number;
      /** Patched: silence after which a connection is dead. */
      readTimeout: number;
    },
  ): RawClient;
  State: Record<'SYNC_CONNECTED' | 'DISCONNECTED' | 'EXPIRED', RawState>;
}

/** The library's wire records, for ACLs its own classes would refuse and for a raw getACL. */
interface RawJute {
  data: {
    ACL: new (perms: number, id: unknown) => unknown;
    Id: new (scheme: string, id: string) => unknown;
  };
  protocol: {
    RequestHeader: new () => { type: number };
    GetACLRequest: new () => { path: string };
  };
  Request: new (header: unknown, payload: unknown) => unknown;
  OP_CODES: { GET_ACL: number };
}

/** What the library serializes an ACL entry from. */
export interface RawAcl {
  toRecord(): unknown;
}

export interface RawAclRecord {
  perms: number;
  id: { scheme: string; id: string };
}

export interface RawState {
  getCode(): number;
}

interface RawEvent {
  getType(): number;
  getPath(): string;
}

export type RawCallback<T extends unknown[]> = (err: Error | null, ...result: T) => void;
export type RawWatcher = (event: RawEvent) => void;

export interface RawStat {
  czxid: Buffer;
  mzxid: Buffer;
  pzxid: Buffer;
  ctime: Buffer;
  mtime: Buffer;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: Buffer;
  dataLength: number;
  numChildren: number;
}

interface RawTransaction {
  create(path: string, data: Buffer | null, acls: RawAcl[], mode: number): RawTransaction;
  setData(path: string, data: Buffer, version: number): RawTransaction;
  remove(path: string, version: number): RawTransaction;
  check(path: string, version: number): RawTransaction;
  commit(callback: RawCallback<[RawOpResult[] | undefined]>): void;
}

export interface RawClient {
  connect(): void;
  close(): void;
  on(event: 'state', listener: (state: RawState) => void): void;
  once(event: 'disconnected', listener: () => void): void;
  removeAllListeners(event: 'state'): void;
  getSessionId(): Buffer;
  getSessionPassword(): Buffer;
  getSessionTimeout(): number;
  addAuthInfo(scheme: string, auth: Buffer): void;
  create(path: string, data: Buffer | null, acls: RawAcl[], mode: number, cb: RawCallback<[string]>): void;
  getData(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[Buffer | null, RawStat]>): void;
  exists(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[RawStat | null]>): void;
  getChildren(path: string, watcher: RawWatcher | undefined, cb: RawCallback<[string[], RawStat]>): void;
  setData(path: string, data: Buffer, version: number, cb: RawCallback<[RawStat]>): void;
  remove(path: string, version: number, cb: RawCallback<[]>): void;
  setACL(path: string, acls: RawAcl[], version: number, cb: RawCallback<[RawStat]>): void;
  transaction(): RawTransaction;
  connectionManager: {
    socket?: { remoteAddress?: string; remotePort?: number };
    zxid: Buffer;
    queue(request: unknown, cb: (err: Error | null, response?: { payload: unknown }) => void): void;
  };
}

export const zookeeper = library as unknown as RawModule;
const requireCjs = createRequire(import.meta.url);
export const jute = requireCjs('node-zookeeper-client/lib/jute/index.js') as RawJute;

export type RawDone<T> = (err: Error | null, value?: T) => void;
export type RawCall<T> = (client: RawClient, done: RawDone<T>) => void;

export interface RawOpResult {
  type: number;
  path?: string;
  stat?: RawStat;
  err?: number;
}

/**
 * The adapter's guards rely on `patches/node-zookeeper-client+1.1.3.patch`, applied by patch-package
 * at install. Without it a frozen server hangs requests and unknown error codes kill the process,
 * so refuse to run rather than run unguarded.
 */
export function assertPatched(): void {
  const manager = requireCjs('node-zookeeper-client/lib/ConnectionManager.js') as {
    prototype: Record<string, unknown>;
  };
  if (
    typeof manager.prototype.startLivenessWatchdog !== 'function' ||
    typeof manager.prototype.pickServerIndex !== 'function'
  ) {
    throw new Error(
      'node-zookeeper-client is not patched (patches/node-zookeeper-client+1.1.3.patch); reinstall with `npm ci`',
    );
  }
}
