/**
 * Many lean SSE subscribers of `/v1/watch` for fault tests: each keeps only what it needs to be
 * checked, the latest state per namespace and the last event id, and the swarm resolves a
 * convergence check as events arrive instead of polling. Raw `node:http`, one socket each; the
 * parser handles only what the gateway sends (`id`, `event`, `data`, comments).
 */
import { Agent, request, type ClientRequest } from 'node:http';

/** What a subscriber holds for one namespace: a `config` event's state, or `deleted`. */
export interface NamespaceState {
  readonly version: number;
  /** The document, or `undefined` once deleted. */
  readonly content: string | undefined;
  readonly id: bigint;
}

/** One received event, as far as the checks need it. */
export interface SwarmEvent {
  readonly id: bigint;
  readonly event: string;
  readonly namespace: string | undefined;
  readonly version: number | undefined;
}

export class Subscriber {
  /** Latest state per namespace. */
  readonly state = new Map<string, NamespaceState>();
  /** Every event since the last (re)connect, in arrival order. */
  events: SwarmEvent[] = [];
  lastEventId: string | undefined;
  /** Events that went backwards for their namespace: a version or id not newer than one held. */
  readonly regressions: string[] = [];
  /** Resolves when the stream ends (server gone or closed). */
  ended: Promise<void> = Promise.resolve();
  endedAt: number | undefined;
  private req: ClientRequest | undefined;
  private onEvent: (() => void) | undefined;

  constructor(
    readonly index: number,
    private readonly swarm: SseSwarm,
  ) {}

  /** Connect to `baseUrl` (resuming from the last id seen when asked); resolves on the 200. */
  open(baseUrl: string, query: string, resume = false): Promise<void> {
    this.events = [];
    this.endedAt = undefined;
    const headers: Record<string, string> = { ...this.swarm.headers, accept: 'text/event-stream' };
    if (resume && this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    return new Promise((resolve, reject) => {
      let endResolve: () => void = () => undefined;
      this.ended = new Promise<void>((r) => (endResolve = r));
      const req = request(`${baseUrl}/v1/watch?${query}`, { headers, agent: this.swarm.agent }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`subscriber ${this.index}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let split: number;
          while ((split = buffer.indexOf('\n\n')) >= 0) {
            this.parse(buffer.slice(0, split));
            buffer = buffer.slice(split + 2);
          }
        });
        res.on('close', () => {
          this.endedAt ??= Date.now();
          endResolve();
        });
        resolve();
      });
      req.on('error', (err) => {
        this.endedAt ??= Date.now();
        endResolve();
        reject(err);
      });
      req.end();
      this.req = req;
    });
  }

  close(): void {
    this.req?.destroy();
  }

  /** Whether this subscriber holds exactly `truth` (namespace -> version and content, deletions absent). */
  holds(truth: ReadonlyMap<string, { version: number; content: string | undefined }>): boolean {
    for (const [namespace, want] of truth) {
      const have = this.state.get(namespace);
      if (want.content === undefined) {
        if (have !== undefined && have.content !== undefined) return false;
      } else if (have?.version !== want.version || have.content !== want.content) return false;
    }
    for (const [namespace, have] of this.state) {
      if (have.content !== undefined && !truth.has(namespace)) return false;
    }
    return true;
  }

  /** Called on every event; the swarm's convergence check. */
  listen(onEvent: (() => void) | undefined): void {
    this.onEvent = onEvent;
  }

  private parse(block: string): void {
    let id: string | undefined;
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data = data ? `${data}\n${value}` : value;
    }
    if (id === undefined) return;
    this.lastEventId = id;
    const eventId = BigInt(id);
    const body = data ? (JSON.parse(data) as Record<string, unknown>) : {};
    const namespace = typeof body['namespace'] === 'string' ? body['namespace'] : undefined;
    const version = typeof body['version'] === 'number' ? body['version'] : undefined;
    this.events.push({ id: eventId, event, namespace, version });
    if (event === 'reset') {
      const keep = new Set(body['namespaces'] as string[]);
      for (const name of [...this.state.keys()]) if (!keep.has(name)) this.state.delete(name);
    } else if (namespace !== undefined && version !== undefined) {
      const held = this.state.get(namespace);
      if (held && (eventId <= held.id || version < held.version)) {
        this.regressions.push(
          `${namespace}: ${event} v${version} id ${eventId} after v${held.version} id ${held.id}`,
        );
      }
      this.state.set(namespace, {
        version,
        content: event === 'config' ? (body['content'] as string) : undefined,
        id: eventId,
      });
    }
    this.swarm.received += 1;
    this.onEvent?.();
  }
}

export class SseSwarm {
  readonly subscribers: Subscriber[];
  /** Events received by all subscribers together. */
  received = 0;
  /** One agent without a socket limit: every subscriber holds its own connection. */
  readonly agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  /** Headers of every subscriber's request (`authorization`, say). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(count: number, options: { readonly headers?: Readonly<Record<string, string>> } = {}) {
    this.subscribers = Array.from({ length: count }, (_, i) => new Subscriber(i, this));
    this.headers = options.headers ?? {};
  }

  /** Open every subscriber in `group` on `baseUrl`, a few at a time so no server backlog overflows. */
  async open(group: readonly Subscriber[], baseUrl: string, query: string, resume = false): Promise<void> {
    const batch = 50;
    for (let i = 0; i < group.length; i += batch) {
      await Promise.all(group.slice(i, i + batch).map((s) => s.open(baseUrl, query, resume)));
    }
  }

  /**
   * Resolves once every subscriber in `group` holds `truth`; rejects after `timeoutMs` naming
   * how many do not. Checked on each event, not polled.
   */
  converge(
    group: readonly Subscriber[],
    truth: ReadonlyMap<string, { version: number; content: string | undefined }>,
    timeoutMs: number,
  ): Promise<number> {
    const started = Date.now();
    const pending = new Set(group.filter((s) => !s.holds(truth)));
    if (pending.size === 0) return Promise.resolve(0);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        for (const s of group) s.listen(undefined);
        resolve(Date.now() - started);
      };
      const timer = setTimeout(() => {
        for (const s of group) s.listen(undefined);
        const sample = [...pending][0];
        const diff = sample
          ? [...truth]
              .filter(([ns, want]) => {
                const have = sample.state.get(ns);
                return have?.version !== want.version || have.content !== want.content;
              })
              .slice(0, 5)
              .map(([ns, want]) => `${ns}: want v${want.version}, has v${sample.state.get(ns)?.version}`)
          : [];
        reject(
          new Error(
            `${pending.size} of ${group.length} subscribers did not converge within ${timeoutMs} ms; e.g. #${sample?.index}: ${diff.join('; ')}`,
          ),
        );
      }, timeoutMs);
      for (const s of pending) {
        s.listen(() => {
          if (s.holds(truth)) {
            s.listen(undefined);
            pending.delete(s);
            if (pending.size === 0) done();
          }
        });
      }
    });
  }

  close(): void {
    for (const s of this.subscribers) s.close();
    this.agent.destroy();
  }
}
