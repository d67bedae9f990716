/**
 * Publishers for the fault scenarios: each loops over its namespaces, publishing unique content
 * through one replica and recording every attempt and every acknowledged (2xx) publish, so the
 * scenario can check afterwards that nothing acknowledged was lost and measure when writes came
 * back on each replica. A request unanswered within its deadline is recorded as such: a hang is
 * a failure of its own, not something a retry should hide.
 */

/** An acknowledged publish: what the gateway promised is durable. */
export interface Ack {
  readonly publisher: number;
  readonly replica: number;
  readonly namespace: string;
  readonly version: number;
  readonly content: string;
  readonly started: number;
  readonly answered: number;
}

export interface Attempt {
  readonly replica: number;
  readonly namespace: string;
  /** What was sent: a write applied without an answer must be one of these, whole. */
  readonly content: string;
  readonly started: number;
  /** When the answer came; undefined when none came within the request deadline. */
  readonly answered: number | undefined;
  /** HTTP status; 0 for a network error or no answer. */
  readonly status: number;
}

export interface PublisherSpec {
  /** Which replica (index into the fleet's urls) this publisher writes through. */
  readonly replica: number;
  /** Namespaces it cycles through; a namespace may be shared with other publishers. */
  readonly namespaces: readonly string[];
}

export interface FleetOptions {
  /** Pause after each answered request, so the fleet does not saturate two cores. */
  readonly pauseMs?: number;
  /** A request unanswered for this long counts as hung. */
  readonly requestTimeoutMs?: number;
  /** Bytes of padding per document (multi-byte text, so "byte for byte" means something). */
  readonly padding?: number;
  /** Headers of every publish (`authorization`, say). */
  readonly headers?: Readonly<Record<string, string>>;
}

export class PublisherFleet {
  readonly acks: Ack[] = [];
  readonly attempts: Attempt[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private waiters: Array<{ check: () => boolean; resolve: () => void }> = [];
  private sequence = 0;
  /** The last refusal, for error messages: status and the start of the body. */
  private lastFailure = '';

  constructor(
    private readonly urls: readonly string[],
    private readonly specs: readonly PublisherSpec[],
    private readonly options: FleetOptions = {},
  ) {}

  start(): void {
    this.running = true;
    this.loops = this.specs.map((spec, publisher) => this.loop(publisher, spec));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Resolves once `check` holds, re-evaluated after every attempt; rejects after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last failure: ${this.lastFailure}`),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Acknowledged publishes of `publisher` started at or after `since`. */
  acksOf(publisher: number, since = 0): number {
    return this.acks.filter((a) => a.publisher === publisher && a.started >= since).length;
  }

  /**
   * Per replica, ms from `since` to the answer of the first acknowledged publish that started at
   * or after it: when writes were back on that replica.
   */
  recovery(since: number): Map<number, number | undefined> {
    const out = new Map<number, number | undefined>();
    for (const replica of new Set(this.specs.map((s) => s.replica))) {
      const first = this.acks
        .filter((a) => a.replica === replica && a.started >= since)
        .reduce<number | undefined>(
          (min, a) => (min === undefined || a.answered < min ? a.answered : min),
          undefined,
        );
      out.set(replica, first === undefined ? undefined : first - since);
    }
    return out;
  }

  /** Attempts that got no answer within the request deadline. */
  unanswered(): Attempt[] {
    return this.attempts.filter((a) => a.answered === undefined);
  }

  private async loop(publisher: number, spec: PublisherSpec): Promise<void> {
    const pauseMs = this.options.pauseMs ?? 50;
    const timeoutMs = this.options.requestTimeoutMs ?? 10_000;
    const pad = 'é'.repeat(Math.max(0, Math.floor((this.options.padding ?? 64) / 2)));
    for (let turn = 0; this.running; turn++) {
      const url = this.urls[spec.replica];
      if (url === undefined) return;
      const namespace = spec.namespaces[turn % spec.namespaces.length] as string;
      const content = JSON.stringify({ publisher, n: ++this.sequence, pad });
      const started = Date.now();
      let status = 0;
      let answered: number | undefined;
      let version: number | undefined;
      try {
        const res = await fetch(`${url}/v1/config/${namespace}`, {
          method: 'PUT',
          body: content,
          headers: { ...this.options.headers, 'content-type': 'application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.status;
        const text = await res.text();
        answered = Date.now();
        if (status >= 200 && status < 300) version = (JSON.parse(text) as { version?: number }).version;
        else this.lastFailure = `${status} ${text.slice(0, 200)}`;
      } catch (err) {
        // A refused or reset connection is an answer too (the replica is down); only a timeout is not.
        if ((err as Error).name !== 'TimeoutError') answered = Date.now();
        this.lastFailure = String(err);
      }
      this.attempts.push({ replica: spec.replica, namespace, content, started, answered, status });
      if (status >= 200 && status < 300 && version !== undefined && answered !== undefined) {
        this.acks.push({ publisher, replica: spec.replica, namespace, version, content, started, answered });
      }
      this.waiters = this.waiters.filter((w) => {
        if (!w.check()) return true;
        w.resolve();
        return false;
      });
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
