/**
 * A namespace as the application uses it: the parsed value, kept current by the watch stream, with
 * a `change` event per new version. Parsing (and validation, e.g. a zod schema's `parse`) happens
 * before a version is accepted: a document that fails it is reported (`invalid`) and the previous
 * value stays.
 */
import { EventEmitter } from 'node:events';
import { parse as parseYaml } from 'yaml';

/**
 * Turns a document into the application's value; throw to refuse it. One argument, so a schema's
 * own `parse` (zod's takes its options second) can be passed as it is; the handle's `raw` and
 * `format` hold the document as published.
 */
export type Parse<T> = (document: unknown) => T;

export interface ConfigChange<T> {
  readonly value: T;
  readonly previous: T;
  readonly version: number;
  /** Who published it, when the history says (it may be unreadable to this token). */
  readonly author: string | undefined;
}

export interface InvalidDocument {
  readonly version: number;
  readonly raw: string;
  readonly error: unknown;
}

export interface ConfigHandleEvents<T> {
  change: [change: ConfigChange<T>];
  /** A new version failed to parse or validate; the previous value is kept. */
  invalid: [invalid: InvalidDocument];
  /** The namespace was deleted; the last value is kept. */
  deleted: [deleted: { readonly version: number }];
}

export interface ConfigDocument {
  readonly version: number;
  readonly index: bigint;
  readonly format: string;
  readonly raw: string;
}

/** The document's own structure: JSON and YAML parsed, properties and text as the string. */
export function decodeDocument(format: string, raw: string): unknown {
  if (format === 'json') return JSON.parse(raw) as unknown;
  if (format === 'yaml') return parseYaml(raw) as unknown;
  return raw;
}

export class ConfigHandle<T = unknown> extends EventEmitter<ConfigHandleEvents<T>> {
  private current: { value: T; document: ConfigDocument };
  private isStale: boolean;
  /** The version last taken in, accepted or refused: the releases after it are the ones missed. */
  private reachedVersion: number;

  /** @internal the client makes these; see `ZkgateClient.config`. */
  constructor(
    readonly namespace: string,
    private readonly parse: Parse<T>,
    document: ConfigDocument,
    stale: boolean,
  ) {
    super();
    this.current = {
      value: this.parse(decodeDocument(document.format, document.raw)),
      document,
    };
    this.isStale = stale;
    this.reachedVersion = document.version;
  }

  get value(): T {
    return this.current.value;
  }

  /** The document as published, byte for byte (as UTF-8 text). */
  get raw(): string {
    return this.current.document.raw;
  }

  get version(): number {
    return this.current.document.version;
  }

  get format(): string {
    return this.current.document.format;
  }

  /** The release's zxid. */
  get index(): bigint {
    return this.current.document.index;
  }

  /** @internal the version last taken in, a refused one included (see {@link accept}). */
  get reached(): number {
    return this.reachedVersion;
  }

  /** Served from the disk cache, and no gateway has confirmed it since. */
  get stale(): boolean {
    return this.isStale;
  }

  /** @internal a stream is open: from now on every change reaches this handle. */
  markLive(): void {
    this.isStale = false;
  }

  /**
   * @internal Takes the next release (the client has dropped repeats by index): parses it, lets
   * `persist` keep it (the disk cache, so an application restarted by the change boots on it),
   * then emits `change`.
   */
  async accept(
    document: ConfigDocument,
    author: string | undefined,
    persist: (document: ConfigDocument) => Promise<void>,
  ): Promise<void> {
    let value: T;
    this.reachedVersion = document.version;
    try {
      value = this.parse(decodeDocument(document.format, document.raw));
    } catch (error) {
      // Moving past it keeps a resume from replaying it; the value stays the last good one.
      this.current = {
        value: this.current.value,
        document: { ...this.current.document, index: document.index },
      };
      this.emit('invalid', { version: document.version, raw: document.raw, error });
      return;
    }
    await persist(document);
    const previous = this.current.value;
    this.current = { value, document };
    this.emit('change', { value, previous, version: document.version, author });
  }

  /** @internal */
  deleted(version: number, index: bigint): void {
    if (index <= this.current.document.index) return;
    this.current = { value: this.current.value, document: { ...this.current.document, index } };
    this.emit('deleted', { version });
  }
}
