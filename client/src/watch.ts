/**
 * One multiplexed Server-Sent Events stream per client, carrying every watched namespace and
 * service.
 *
 * Why it never misses a change: event ids are ZooKeeper zxids, monotonic across the ensemble, and
 * the gateway answers a `Last-Event-ID` with every item that changed after it (or, past what it
 * remembers, the whole state and a `reset`), on any replica. So the stream reconnects, after any
 * drop and on whichever replica answers, from the highest id it has seen. A subscription added
 * later lowers that resume point to the index its first read returned, so nothing between that
 * read and the stream is lost either.
 *
 * Why it never delivers one twice or out of order: a resume may repeat items (the current state of
 * every service, for one), so the subscribers drop anything whose index is not above the one they
 * hold; and events are handed over one at a time, each after the previous one's handler settled.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Instance } from './instances.js';
import { UnauthorizedError } from './errors.js';
import type { Logger, Transport } from './transport.js';

export type WatchEvent =
  | {
      readonly type: 'config';
      readonly namespace: string;
      readonly version: number;
      readonly index: bigint;
      readonly format: string;
      readonly content: string;
    }
  | {
      readonly type: 'config-deleted';
      readonly namespace: string;
      readonly version: number;
      readonly index: bigint;
    }
  /** Every namespace of the subscription that exists: the others were deleted meanwhile. */
  | { readonly type: 'reset'; readonly namespaces: readonly string[] }
  | {
      readonly type: 'instances';
      readonly service: string;
      readonly index: bigint;
      readonly instances: Instance[];
    }
  | {
      readonly type: 'instance';
      readonly service: string;
      readonly index: bigint;
      readonly instance: Instance;
    }
  | {
      readonly type: 'instance-removed';
      readonly service: string;
      readonly index: bigint;
      readonly id: string;
    };

export interface WatchHandlers {
  /** Called once per event, in stream order, each after the previous one's promise settled. */
  event(event: WatchEvent): Promise<void> | void;
  /** A stream is open: every subscription is current from here on (a cached copy is live again). */
  connected(): void;
}

export interface WatchOptions {
  /** Full-jitter back-off: the n-th retry waits a uniform time in [0, min(max, base * 2^n)). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** A stream silent for this long (no event, no keep-alive) is taken for dead; default 45 s. */
  readonly idleTimeoutMs?: number;
  readonly random?: () => number;
}

export class WatchStream {
  private readonly namespaces = new Set<string>();
  private readonly services = new Set<string>();
  /** The highest event id handled, or where a new subscription needs the stream to start. */
  private resumeFrom: bigint | undefined;
  private connection: AbortController | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  /** Bumped by every new subscription: a connection older than it lacks something. */
  private generation = 0;

  constructor(
    private readonly transport: Transport,
    private readonly handlers: WatchHandlers,
    private readonly logger: Logger,
    private readonly options: WatchOptions = {},
  ) {}

  /**
   * Adds a namespace or service to the stream, from `since` (the index its first read returned;
   * undefined for an item that does not exist yet) onwards. Reconnects at once.
   */
  watch(kind: 'ns' | 'service', name: string, since: bigint | undefined): void {
    if (this.closed) return;
    const set = kind === 'ns' ? this.namespaces : this.services;
    if (set.has(name)) return;
    set.add(name);
    this.generation++;
    if (since !== undefined && (this.resumeFrom === undefined || since < this.resumeFrom))
      this.resumeFrom = since;
    // The open stream does not carry the new item: end it, the loop reconnects without a pause.
    this.connection?.abort();
    this.wake?.();
    this.running ??= this.run();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connection?.abort();
    this.wake?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      const connection = new AbortController();
      this.connection = connection;
      const generation = this.generation;
      try {
        const received = await this.stream(connection);
        if (received) attempt = 0;
      } catch (err) {
        if (!connection.signal.aborted) {
          this.logger.warn('zkgate watch stream failed; reconnecting', { error: String(err) });
        }
        if (err instanceof UnauthorizedError) attempt = Math.max(attempt, 6);
      }
      if (this.closed) break;
      if (generation !== this.generation) continue;
      const ms = this.delay(attempt++);
      this.logger.debug?.('zkgate watch stream: reconnecting', { afterMs: Math.round(ms) });
      await this.pause(ms);
    }
  }

  /** One connection, until it drops or is aborted. Resolves whether any event came through. */
  private async stream(connection: AbortController): Promise<boolean> {
    const response = await this.transport.request('GET', '/v1/watch', {
      query: { ns: [...this.namespaces], service: [...this.services] },
      headers: {
        accept: 'text/event-stream',
        ...(this.resumeFrom === undefined ? {} : { 'last-event-id': String(this.resumeFrom) }),
      },
      signal: connection.signal,
    });
    this.logger.debug?.('zkgate watch stream: connected', { url: response.url });
    this.handlers.connected();
    let received = false;
    let queue = Promise.resolve();
    const parser = createParser({
      onEvent: (message) => {
        received = true;
        queue = queue.then(() => this.deliver(message, connection));
      },
    });
    const idleMs = this.options.idleTimeoutMs ?? 45_000;
    let idle = setTimeout(() => connection.abort(), idleMs);
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(), idleMs);
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      await queue;
    }
    return received;
  }

  private async deliver(message: EventSourceMessage, connection: AbortController): Promise<void> {
    // After an abort for a new subscription the rest of this buffer is stale: the next stream resends it.
    if (connection.signal.aborted && !this.closed) return;
    if (message.event === 'revoked') {
      this.logger.warn('zkgate token revoked or expired; the watch stream ended');
      return;
    }
    let event: WatchEvent | undefined;
    try {
      event = decode(message);
    } catch (err) {
      this.logger.warn('zkgate watch event ignored: not understood', {
        event: message.event,
        error: String(err),
      });
    }
    if (event !== undefined) {
      try {
        await this.handlers.event(event);
      } catch (err) {
        this.logger.warn('zkgate watch handler failed', { error: String(err) });
      }
    }
    // A subscription added meanwhile may have lowered the resume point: keep it low.
    if (connection.signal.aborted) return;
    if (message.id !== undefined && /^[0-9]{1,20}$/.test(message.id)) {
      const id = BigInt(message.id);
      if (this.resumeFrom === undefined || id > this.resumeFrom) this.resumeFrom = id;
    }
  }

  private delay(attempt: number): number {
    const base = this.options.backoffBaseMs ?? 250;
    const max = this.options.backoffMaxMs ?? 15_000;
    return (this.options.random ?? Math.random)() * Math.min(max, base * 2 ** Math.min(attempt, 16));
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** The event a message carries; `undefined` for a type this client does not know (newer gateways). */
function decode(message: EventSourceMessage): WatchEvent | undefined {
  const type = message.event;
  if (
    type !== 'config' &&
    type !== 'config-deleted' &&
    type !== 'reset' &&
    type !== 'instances' &&
    type !== 'instance' &&
    type !== 'instance-removed'
  ) {
    return undefined;
  }
  const data = JSON.parse(message.data) as Record<string, unknown>;
  const index = (): bigint => BigInt(String(data.index));
  switch (type) {
    case 'config':
      return {
        type,
        namespace: String(data.namespace),
        version: Number(data.version),
        index: index(),
        format: String(data.format),
        content: String(data.content),
      };
    case 'config-deleted':
      return { type, namespace: String(data.namespace), version: Number(data.version), index: index() };
    case 'reset':
      return { type, namespaces: (data.namespaces as string[]) ?? [] };
    case 'instances':
      return { type, service: String(data.service), index: index(), instances: data.instances as Instance[] };
    case 'instance':
      return { type, service: String(data.service), index: index(), instance: data.instance as Instance };
    case 'instance-removed':
      return { type, service: String(data.service), index: index(), id: String(data.id) };
  }
}
