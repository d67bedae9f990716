/**
 * The SDK's entry point: `createClient` and what it hands out (config handles, registrations,
 * service views), all sharing one transport and one watch stream.
 */
import { DiskCache, type CachedDocument } from './cache.js';
import { ConfigHandle, type ConfigDocument, type Parse } from './config.js';
import { ServiceView, type DiscoverOptions } from './discovery.js';
import { formatOf } from './formats.js';
import { InvalidDocumentError, UnavailableError, ZkgateError } from './errors.js';
import type { Instance } from './instances.js';
import { Registration, type RegisterOptions } from './registration.js';
import { Transport, pathOf, silentLogger, type Logger } from './transport.js';
import { WatchStream, type WatchEvent, type WatchOptions } from './watch.js';

export interface ClientOptions {
  /** One gateway, e.g. `http://127.0.0.1:8080`. */
  readonly url?: string;
  /** Several replicas: requests and the watch stream fail over among them. */
  readonly urls?: readonly string[];
  /** A `zkg_...` secret. */
  readonly token?: string;
  /** Where the last copy of each namespace is kept, for boots while no gateway answers. */
  readonly cacheDir?: string;
  readonly logger?: Logger;
  /** Per request, until the answer's headers; default 10 s. */
  readonly timeoutMs?: number;
  /** The watch stream's back-off and dead-stream detection. */
  readonly watch?: WatchOptions;
}

export interface ConfigOptions<T> {
  /** Turns the document (JSON and YAML parsed, others the text) into the value; throw to refuse it. */
  readonly parse?: Parse<T>;
  /** How long the gateway gets before the cached copy is used; default 5 s. */
  readonly timeoutMs?: number;
}

/**
 * A client of one zkgate deployment.
 *
 * @example
 * ```ts
 * const zk = createClient({ urls: ['http://zkgate-0:8080', 'http://zkgate-1:8080'], token, cacheDir: '.zkgate' });
 * const flags = await zk.config('prod/flags', { parse: FlagsSchema.parse });
 * flags.on('change', ({ value }) => apply(value));
 * ```
 */
export class ZkgateClient {
  readonly transport: Transport;
  private readonly logger: Logger;
  private readonly cache: DiskCache | undefined;
  private readonly stream: WatchStream;
  private readonly configs = new Map<string, ConfigHandle<unknown>>();
  /** First reads under way or done, so concurrent calls for one namespace share one handle. */
  private readonly opening = new Map<string, Promise<ConfigHandle<unknown>>>();
  private readonly views = new Map<string, ServiceView[]>();
  private readonly registrations = new Set<Registration>();
  private signalHook: ((signal: NodeJS.Signals) => void) | undefined;

  constructor(options: ClientOptions) {
    const urls = options.urls ?? (options.url === undefined ? [] : [options.url]);
    this.transport = new Transport({ urls, token: options.token, timeoutMs: options.timeoutMs });
    this.logger = options.logger ?? silentLogger;
    this.cache = options.cacheDir === undefined ? undefined : new DiskCache(options.cacheDir);
    this.stream = new WatchStream(
      this.transport,
      { event: (event) => this.apply(event), connected: () => this.configs.forEach((h) => h.markLive()) },
      this.logger,
      options.watch,
    );
  }

  /**
   * A namespace, kept current. From the gateway if one answers within `timeoutMs`; else the copy
   * in `cacheDir`, marked `stale` until the stream reaches a gateway (then one `change` if the
   * version moved); else {@link UnavailableError}. A current version `parse` refuses is not
   * cached; the copy on disk serves instead, else {@link InvalidDocumentError}. One handle per
   * namespace and client: a second call returns the first handle (its `parse` wins).
   */
  config<T = unknown>(namespace: string, options: ConfigOptions<T> = {}): Promise<ConfigHandle<T>> {
    let pending = this.opening.get(namespace);
    if (pending === undefined) {
      pending = this.open(namespace, options as ConfigOptions<unknown>);
      this.opening.set(namespace, pending);
      // A failed first read leaves nothing behind: the next call tries again.
      pending.catch(() => this.opening.delete(namespace));
    }
    return pending as Promise<ConfigHandle<T>>;
  }

  private async open<T>(namespace: string, options: ConfigOptions<T>): Promise<ConfigHandle<T>> {
    const parse = options.parse ?? ((document: unknown) => document as T);
    const timeoutMs = options.timeoutMs ?? 5_000;
    let handle: ConfigHandle<T>;
    try {
      const document = await this.fetchDocument(namespace, timeoutMs);
      handle = handleOf(namespace, parse, document, false);
      // Only after parse accepted it: a refused version must not replace the copy a later boot falls back to.
      await this.save(namespace, document);
    } catch (err) {
      if (!(err instanceof UnavailableError || err instanceof InvalidDocumentError)) throw err;
      handle = await this.fromCache(namespace, parse, err, timeoutMs);
    }
    this.configs.set(namespace, handle as ConfigHandle<unknown>);
    this.stream.watch('ns', namespace, handle.index);
    return handle;
  }

  /**
   * The last accepted copy on disk, stale, when the gateway's could not be had (`fault`). After a
   * refused version the stream, resuming from the copy's index, reports that version as `invalid`.
   */
  private async fromCache<T>(
    namespace: string,
    parse: Parse<T>,
    fault: UnavailableError | InvalidDocumentError,
    timeoutMs: number,
  ): Promise<ConfigHandle<T>> {
    const cached = await this.cache?.read(namespace);
    if (cached === undefined) {
      if (fault instanceof InvalidDocumentError) throw fault;
      throw new UnavailableError(
        `${namespace}: no gateway answered within ${timeoutMs} ms and ` +
          (this.cache === undefined
            ? 'no cacheDir is set'
            : `${this.cache.fileOf(namespace)} does not exist`),
        { code: 'ZKG_CLIENT_NO_COPY', cause: fault },
      );
    }
    if (fault instanceof InvalidDocumentError) {
      this.logger.warn('zkgate current version refused by parse; serving the last accepted copy on disk', {
        namespace,
        error: fault.message,
      });
    }
    const document = {
      version: cached.version,
      index: BigInt(cached.index),
      format: cached.format,
      raw: cached.raw,
    };
    return handleOf(namespace, parse, document, true);
  }

  /** Registers an instance and keeps it registered; see {@link Registration}. */
  async register(service: string, options: RegisterOptions): Promise<Registration> {
    const registration = new Registration(service, options, this.transport, this.logger, (r) =>
      this.registrations.delete(r),
    );
    await registration.start();
    this.registrations.add(registration);
    if (options.deregisterOnSignal !== false) this.hookSignals();
    return registration;
  }

  /** A live list of a service's instances, with local balancing (`pick`). */
  async discover(service: string, options: DiscoverOptions = {}): Promise<ServiceView> {
    const response = await this.transport.request('GET', `/v1/services/${pathOf(service)}/instances`, {
      accept: [404],
    });
    const known = response.status === 200;
    const instances = known ? ((await response.json()) as Instance[]) : [];
    if (!known) await response.body?.cancel();
    const index = BigInt(response.headers.get('x-zkgate-index') ?? '0');
    const view = new ServiceView(service, instances, index, options);
    this.views.set(service, [...(this.views.get(service) ?? []), view]);
    this.stream.watch('service', service, known ? index : undefined);
    return view;
  }

  /** Ends the stream and heartbeats; registrations stay (deregister them first to leave). */
  async close(): Promise<void> {
    this.unhookSignals();
    await this.stream.close();
    for (const registration of this.registrations) registration.stopHeartbeats();
    this.registrations.clear();
  }

  private async fetchDocument(namespace: string, timeoutMs: number): Promise<ConfigDocument> {
    const response = await this.transport.request('GET', `/v1/config/${pathOf(namespace)}`, { timeoutMs });
    const raw = await response.text();
    return {
      raw,
      version: Number(response.headers.get('x-zkgate-version')),
      index: BigInt(response.headers.get('x-zkgate-index') ?? '0'),
      format: formatOf(response.headers.get('content-type')),
    };
  }

  private async save(namespace: string, document: ConfigDocument): Promise<void> {
    if (this.cache === undefined) return;
    const entry: CachedDocument = {
      namespace,
      version: document.version,
      index: String(document.index),
      format: document.format,
      raw: document.raw,
    };
    await this.cache
      .write(entry)
      .catch((err: unknown) =>
        this.logger.warn('zkgate cache write failed', { namespace, error: String(err) }),
      );
  }

  private async apply(event: WatchEvent): Promise<void> {
    switch (event.type) {
      case 'config': {
        const handle = this.configs.get(event.namespace);
        if (handle === undefined || event.index <= handle.index) return;
        // From the version last taken in: one refused is behind, not missed.
        const { missed, author } = await this.releasesBetween(event.namespace, handle.reached, event.version);
        const save = (document: ConfigDocument): Promise<void> => this.save(event.namespace, document);
        for (const release of missed) {
          await handle.accept({ ...release.document, index: handle.index }, release.author, save);
        }
        const document = {
          version: event.version,
          index: event.index,
          format: event.format,
          raw: event.content,
        };
        await handle.accept(document, author, save);
        return;
      }
      case 'config-deleted':
        this.configs.get(event.namespace)?.deleted(event.version, event.index);
        return;
      case 'reset': {
        const present = new Set(event.namespaces);
        for (const [namespace, handle] of this.configs) {
          // A reset comes after the full state, so anything absent is gone; its index is unknown.
          if (!present.has(namespace)) handle.deleted(handle.version, handle.index + 1n);
        }
        return;
      }
      case 'instances':
        this.views.get(event.service)?.forEach((v) => v.replace(event.index, event.instances));
        return;
      case 'instance':
        this.views.get(event.service)?.forEach((v) => v.upsert(event.index, event.instance));
        return;
      case 'instance-removed':
        this.views.get(event.service)?.forEach((v) => v.remove(event.index, event.id));
        return;
    }
  }

  /**
   * The releases after `held` and before `next`, oldest first, and the author of `next`. A resume
   * delivers only each namespace's newest state; the history fills in the versions published
   * while the stream was down, so the application sees every change, in order. Best effort: a
   * token that may not read the history, or releases trimmed from it, are skipped, never fatal.
   */
  private async releasesBetween(
    namespace: string,
    held: number,
    next: number,
  ): Promise<{
    missed: Array<{ document: ConfigDocument; author: string | undefined }>;
    author: string | undefined;
  }> {
    const missed: Array<{ document: ConfigDocument; author: string | undefined }> = [];
    // A version at or below the one held: the namespace was deleted and made again; no gap to fill.
    const gap = next > held ? next - held : 1;
    try {
      // Counted back from `next`, not from the newest: releases published since the event was sent
      // would push the oldest missed ones out of the page.
      const releases = await this.transport.json<Array<{ version: number; author?: string }>>(
        'GET',
        `/v1/config/${pathOf(namespace)}:history`,
        { query: { limit: String(Math.min(gap, 1_000)), before: String(next + 1) }, timeoutMs: 2_000 },
      );
      const authors = new Map(releases.map((r) => [r.version, r.author]));
      for (let version = held + 1; version < next && next > held; version++) {
        if (!authors.has(version)) continue;
        const response = await this.transport.request(
          'GET',
          `/v1/config/${pathOf(namespace)}:history/${version}`,
          {
            timeoutMs: 2_000,
          },
        );
        missed.push({
          document: {
            version,
            index: 0n,
            format: formatOf(response.headers.get('content-type')),
            raw: await response.text(),
          },
          author: authors.get(version),
        });
      }
      return { missed, author: authors.get(next) };
    } catch (err) {
      if (!(err instanceof ZkgateError)) throw err;
      this.logger.warn('zkgate history unreadable; versions published while disconnected are skipped', {
        namespace,
        error: String(err),
      });
      return { missed, author: undefined };
    }
  }

  /**
   * On SIGTERM/SIGINT: deregister everything, then, if no one else listens for the signal, raise
   * it again so the process ends as it would have (exit status 128 + signal).
   */
  private hookSignals(): void {
    if (this.signalHook !== undefined) return;
    const hook = (signal: NodeJS.Signals): void => {
      this.unhookSignals();
      const others = process.listenerCount(signal) > 0;
      void Promise.allSettled([...this.registrations].map((r) => r.deregister())).then((results) => {
        for (const result of results) {
          if (result.status === 'rejected') {
            this.logger.warn('zkgate deregistration on exit failed', { error: String(result.reason) });
          }
        }
        if (!others) process.kill(process.pid, signal);
      });
    };
    this.signalHook = hook;
    process.once('SIGTERM', hook);
    process.once('SIGINT', hook);
  }

  private unhookSignals(): void {
    if (this.signalHook === undefined) return;
    process.off('SIGTERM', this.signalHook);
    process.off('SIGINT', this.signalHook);
    this.signalHook = undefined;
  }
}

/** A handle on `document`, or {@link InvalidDocumentError} when `parse` refuses it. */
function handleOf<T>(
  namespace: string,
  parse: Parse<T>,
  document: ConfigDocument,
  stale: boolean,
): ConfigHandle<T> {
  try {
    return new ConfigHandle<T>(namespace, parse, document, stale);
  } catch (error) {
    throw new InvalidDocumentError(
      `${namespace} version ${document.version}${stale ? ' (the copy on disk)' : ''} refused by parse: ${String(error)}`,
      { code: 'ZKG_CLIENT_INVALID_DOCUMENT', cause: error },
    );
  }
}

export function createClient(options: ClientOptions): ZkgateClient {
  return new ZkgateClient(options);
}
