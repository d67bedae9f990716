/**
 * HTTP to a set of gateway replicas: bearer token, failover, typed errors. Replicas are
 * interchangeable (stateless gateways over one ZooKeeper), so a request that finds one down or
 * answering 502/503/504 is sent to the next; the replica that last answered is tried first, so a
 * client sticks to a healthy replica instead of probing a dead one on every call.
 */
import { UnavailableError, errorFromResponse, isUnavailableStatus } from './errors.js';

/** Where the SDK reports what it recovers from by itself (a dropped stream, a failed heartbeat). */
export interface Logger {
  warn(message: string, details?: Record<string, unknown>): void;
  debug?(message: string, details?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { warn: () => {} };

export interface RequestOptions {
  readonly query?: Record<string, string | readonly string[] | undefined>;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array;
  /** Until the answer's headers arrive, over every replica tried; default the transport's. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Statuses returned as they are rather than thrown (e.g. 304, or 404 when absence is an answer). */
  readonly accept?: readonly number[];
}

export interface TransportOptions {
  readonly urls: readonly string[];
  readonly token?: string | undefined;
  readonly timeoutMs?: number | undefined;
}

export class Transport {
  readonly urls: readonly string[];
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private preferred = 0;

  constructor(options: TransportOptions) {
    if (options.urls.length === 0) throw new TypeError('createClient needs a url or urls');
    this.urls = options.urls.map((url) => new URL(url).toString().replace(/\/$/, ''));
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The replica requests go to first. */
  get url(): string {
    return this.urls[this.preferred]!;
  }

  /**
   * One request, failing over across replicas. Resolves with a 2xx answer (or one in `accept`);
   * throws the typed error of any other, or {@link UnavailableError} when no replica answered.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const what = `${method} ${path}`;
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new UnavailableError(`${what}: no answer`, { code: 'ZKG_CLIENT_TIMEOUT' })),
      options.timeoutMs ?? this.timeoutMs,
    );
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    let lastFault: unknown;
    try {
      for (let tried = 0; tried < this.urls.length; tried++) {
        const index = (this.preferred + tried) % this.urls.length;
        let response: Response;
        try {
          response = await fetch(this.urlOf(index, path, options.query), {
            method,
            headers: {
              ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
              ...options.headers,
            },
            ...(options.body === undefined ? {} : { body: options.body }),
            signal,
          });
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          lastFault = err;
          continue;
        }
        if (isUnavailableStatus(response.status) && tried < this.urls.length - 1) {
          const fault = await errorFromResponse(response, what);
          if (!(fault instanceof UnavailableError)) throw fault;
          lastFault = fault;
          continue;
        }
        this.preferred = index;
        if (response.ok || options.accept?.includes(response.status)) return response;
        throw await errorFromResponse(response, what);
      }
    } finally {
      clearTimeout(timer);
    }
    if (lastFault instanceof UnavailableError) throw lastFault;
    throw new UnavailableError(`${what}: no gateway answered (${this.urls.join(', ')})`, {
      code: 'ZKG_CLIENT_UNREACHABLE',
      cause: lastFault,
    });
  }

  /** {@link request} and its JSON body. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.request(method, path, options);
    try {
      return (await response.json()) as T;
    } catch (err) {
      // The connection dropped mid-answer (or a proxy sent something else): worth a retry.
      throw new UnavailableError(`${method} ${path}: the answer could not be read`, {
        code: 'ZKG_CLIENT_BAD_ANSWER',
        cause: err,
      });
    }
  }

  private urlOf(index: number, path: string, query: RequestOptions['query']): string {
    const url = new URL(this.urls[index]! + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value === undefined) continue;
      for (const one of typeof value === 'string' ? [value] : value) url.searchParams.append(key, one);
    }
    return url.toString();
  }
}

/** A namespace or service name as a path: each segment escaped, the slashes kept. */
export function pathOf(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}
