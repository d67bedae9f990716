/**
 * The session under the `zookeeper` adapter: one library client at a time, replaced by a fresh
 * one when its session expires, and the discipline every request goes through (a deadline, reads
 * retried across a connection loss, writes failed fast). Apart from the store so that its
 * operations read as translations of the port, over a lifecycle that is argued in one place.
 */
import { ErrorCode, StoreError } from '../errors.js';
import type { ConnectionState, SessionEvent, StoreLogger } from '../store.js';
import { zookeeper, type RawCall, type RawClient, type RawDone, type RawState } from './library.js';
import { toStoreError } from './translate.js';

/** The options of the `zookeeper` adapter: every one of them shapes its session. */
export interface ZooKeeperStoreOptions {
  /** `host:port,host:port[/chroot]`. */
  readonly connectString: string;
  /** Requested session timeout; the server clamps it to [2, 20] x tickTime. Default 15 s. */
  readonly sessionTimeoutMs?: number;
  /** How long {@link ZooKeeperStore.connect} waits for the first session. Default: the session timeout. */
  readonly connectTimeoutMs?: number;
  /** Deadline of one request, retries of a read included. Default: the session timeout. */
  readonly requestTimeoutMs?: number;
  /** Wait between server list passes while reconnecting (the library's spinDelay). Default 200 ms. */
  readonly spinDelayMs?: number;
  /**
   * How long one server attempt (TCP connect plus session handshake) may take before the next
   * server is tried. Default 2 s, and never more than the session timeout over the server count.
   */
  readonly attemptTimeoutMs?: number;
  /**
   * How long a connection may stay silent before it counts as dead and the next server is tried,
   * keeping the session; pings go out every third of it. Default 3 s, and never more than 2/3
   * of the session timeout (the Java client's read timeout).
   */
  readonly livenessTimeoutMs?: number;
  readonly logger?: StoreLogger;
}

/** What a holder needs to hand its session to another client; tests use it to force expiry. */
export interface SessionCredentials {
  readonly sessionId: Buffer;
  readonly password: Buffer;
  readonly timeoutMs: number;
}

/** Defaults of {@link ZooKeeperStoreOptions.attemptTimeoutMs} and `livenessTimeoutMs`. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 2_000;
export const DEFAULT_LIVENESS_TIMEOUT_MS = 3_000;

/** The session a {@link ZooKeeperStore} runs its requests on, across reconnects and expiries. */
export class ZooKeeperSession {
  private client: RawClient;
  private currentState: ConnectionState = 'connecting';
  private currentSessionId = 0n;
  private expiredBefore = false;
  private closing = false;
  private readonly listeners = new Set<(event: SessionEvent) => void>();
  /** Readers waiting for the connection to come back, resolved on `connected`. */
  private readonly reconnectWaiters = new Set<() => void>();
  /** What {@link authenticate} was given, for the client of each new session. */
  private readonly credentials: { readonly scheme: string; readonly auth: Buffer }[] = [];
  readonly sessionTimeoutMs: number;
  private readonly requestTimeoutMs: number;

  /**
   * Connects at once. `onExpired` runs when a session is lost, before anyone hears of it: the
   * watches that session held are gone with it.
   */
  constructor(
    private readonly options: ZooKeeperStoreOptions,
    private readonly logger: StoreLogger,
    private readonly onExpired: () => void,
  ) {
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 15_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? this.sessionTimeoutMs;
    this.client = this.newClient();
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  get sessionId(): bigint {
    return this.currentSessionId;
  }

  /** `host:port` of the server this client talks to now, for status pages. */
  get connectedServer(): string | undefined {
    const socket = this.client.connectionManager.socket;
    return this.currentState === 'connected' && socket?.remoteAddress
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : undefined;
  }

  /** The live session's id and password (Curator's `KillSession` needs them). */
  sessionCredentials(): SessionCredentials {
    return {
      sessionId: this.client.getSessionId(),
      password: this.client.getSessionPassword(),
      timeoutMs: this.client.getSessionTimeout(),
    };
  }

  onStateChange(listener: (event: SessionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Credentials for this session and every later one (the library re-sends them on reconnect). */
  authenticate(scheme: string, auth: Buffer): void {
    const credential = { scheme, auth: Buffer.from(auth) };
    this.credentials.push(credential);
    this.client.addAuthInfo(credential.scheme, credential.auth);
  }

  async close(): Promise<void> {
    if (this.currentState === 'closed') return;
    this.closing = true;
    const client = this.client;
    const wasConnected = this.currentState === 'connected';
    this.setState('closed', this.currentSessionId, false);
    this.wakeReaders();
    if (!wasConnected) {
      // Not connected: there is no session to end; stop the reconnect loop.
      client.close();
      return;
    }
    // closeSession ends the session at once (its ephemerals go with it); the library reports
    // completion only as a disconnect, so wait for that, bounded.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(2_000, this.requestTimeoutMs));
      timer.unref();
      client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
      client.close();
    });
  }

  /**
   * A client, connecting. `lastZxid` carries the newest zxid the previous session saw: ZooKeeper
   * refuses a connection from a client that has seen more than the server has, so a new session
   * cannot land on a follower that lags behind what holders already read.
   */
  private newClient(lastZxid?: Buffer): RawClient {
    const client = zookeeper.createClient(this.options.connectString, {
      sessionTimeout: this.sessionTimeoutMs,
      spinDelay: this.options.spinDelayMs ?? 200,
      retries: 0,
      connectTimeout: this.options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS,
      readTimeout: this.options.livenessTimeoutMs ?? DEFAULT_LIVENESS_TIMEOUT_MS,
    });
    if (lastZxid) client.connectionManager.zxid = Buffer.from(lastZxid);
    // Sent right after the session handshake, before anything else.
    for (const { scheme, auth } of this.credentials) client.addAuthInfo(scheme, auth);
    client.on('state', (state) => this.onClientState(client, state));
    client.connect();
    return client;
  }

  private onClientState(client: RawClient, state: RawState): void {
    if (client !== this.client || this.closing) return;
    const code = state.getCode();
    if (code === zookeeper.State.SYNC_CONNECTED.getCode()) {
      const sessionId = client.getSessionId().readBigInt64BE(0);
      const newSession = this.expiredBefore && sessionId !== this.currentSessionId;
      this.expiredBefore = false;
      this.setState('connected', sessionId, newSession);
      this.wakeReaders();
    } else if (code === zookeeper.State.DISCONNECTED.getCode()) {
      if (this.currentState === 'connected') this.setState('disconnected', this.currentSessionId, false);
    } else if (code === zookeeper.State.EXPIRED.getCode()) {
      this.onSessionExpired(client);
    }
  }

  /**
   * The session is gone, and with it every ephemeral and watch it held. Start a fresh session at
   * once; holders hear `expired` now and `connected` (newSession) when it is up.
   */
  private onSessionExpired(client: RawClient): void {
    const lost = this.currentSessionId;
    this.logger.warn({ sessionId: `0x${lost.toString(16)}` }, 'zookeeper session expired; opening a new one');
    this.onExpired();
    this.expiredBefore = true;
    this.setState('expired', lost, false);
    client.removeAllListeners('state');
    client.close();
    this.client = this.newClient(client.connectionManager.zxid);
  }

  private setState(state: ConnectionState, sessionId: bigint, newSession: boolean): void {
    this.currentState = state;
    this.currentSessionId = sessionId;
    const event: SessionEvent = { state, sessionId, newSession };
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.logger.warn({ err }, 'connection-state listener threw');
      }
    }
  }

  private wakeReaders(): void {
    const waiters = [...this.reconnectWaiters];
    this.reconnectWaiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolve once connected; reject after `timeoutMs` or when the store is closed. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.currentState === 'connected') return Promise.resolve();
    if (this.currentState === 'closed') return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reconnectWaiters.delete(wake);
        reject(new StoreError(ErrorCode.CONNECTION_LOSS, undefined, 'not connected to ZooKeeper'));
      }, timeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        if (this.currentState === 'connected') resolve();
        else reject(this.closedError());
      };
      this.reconnectWaiters.add(wake);
    });
  }

  private closedError(): StoreError {
    return new StoreError(ErrorCode.SESSION_EXPIRED, undefined, 'the coordination store is closed');
  }

  /**
   * An idempotent read: on connection loss or timeout it waits for the connection and tries
   * again, all within one request deadline.
   */
  async read<T>(path: string, call: RawCall<T>): Promise<T> {
    const deadline = Date.now() + this.requestTimeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      try {
        await this.waitConnected(Math.max(0, left));
        return await this.send(path, call, Math.max(1, deadline - Date.now()));
      } catch (err) {
        const retry =
          err instanceof StoreError &&
          (err.code === ErrorCode.CONNECTION_LOSS || err.code === ErrorCode.SESSION_EXPIRED) &&
          this.currentState !== 'closed' &&
          Date.now() < deadline;
        if (!retry) throw err;
      }
    }
  }

  /** A write: refused at once while disconnected, so callers can answer 503 without waiting. */
  async write<T>(path: string | undefined, call: RawCall<T>): Promise<T> {
    if (this.currentState !== 'connected') {
      throw this.currentState === 'closed'
        ? this.closedError()
        : new StoreError(
            ErrorCode.CONNECTION_LOSS,
            path,
            `not connected to ZooKeeper (${this.currentState})`,
          );
    }
    return this.send(path, call, this.requestTimeoutMs);
  }

  /** One request on the current client, with a deadline; library throws become rejections. */
  private send<T>(path: string | undefined, call: RawCall<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new StoreError(ErrorCode.OPERATION_TIMEOUT, path, `no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (err: unknown, value?: T): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(toStoreError(err, path));
        else resolve(value as T);
      };
      try {
        call(this.client, done as RawDone<T>);
      } catch (err) {
        done(err);
      }
    });
  }
}
