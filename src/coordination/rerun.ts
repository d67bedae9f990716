/**
 * What the recipes (leader election, group membership) share: a check of the store that runs one
 * at a time and again whenever an event arrived meanwhile (watches and session events can come
 * while a check is reading), retried after a failure; and listeners that cannot break each other.
 */
import type { StoreLogger } from './store.js';

const RETRY_MS = 250;

export class Rerun {
  private running: Promise<void> | undefined;
  /** Set before the first check starts, so a request from inside it (before any await) reruns it. */
  private busy = false;
  private again = false;

  /**
   * @param task one check; it calls {@link Rerun.request} itself to be run again
   * @param active whether checks should run at all (the recipe was started and not closed)
   * @param failed called with a check's failure, before it is retried
   */
  constructor(
    private readonly task: () => Promise<void>,
    private readonly active: () => boolean,
    private readonly failed: (err: unknown) => void,
  ) {}

  /** The check in progress, if any (resolves when it and its reruns are done). */
  get current(): Promise<void> | undefined {
    return this.running;
  }

  /** Run the check now, or once more after the one in progress. */
  request(): void {
    if (!this.active()) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    this.running = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.task();
          } catch (err) {
            if (!this.active()) return;
            this.failed(err);
            await new Promise((r) => setTimeout(r, RETRY_MS).unref());
            this.again = true;
          }
        } while (this.again && this.active());
      } finally {
        // In the same step as the last look at `again`: a request cannot fall in between.
        this.busy = false;
        this.running = undefined;
      }
    })();
  }
}

/** A set of listeners; one that throws is logged, and the others still hear the event. */
export class Listeners<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(
    private readonly logger: StoreLogger,
    private readonly what: string,
  ) {}

  /** Returns the unsubscribe function. */
  add(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(value);
      } catch (err) {
        this.logger.warn({ err }, `${this.what} listener threw`);
      }
    }
  }
}
