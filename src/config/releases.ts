/**
 * A namespace's history: one znode per release under `<root>/config/<ns>/history` (see
 * {@link ConfigLayout}), written by the publish's own transaction. A release znode is one line of
 * JSON header (version, format, author, comment, time), then the document byte for byte, so a
 * rollback republishes exactly what was published.
 */
import { ErrorCode, isStoreError } from '../coordination/errors.js';
import type { CoordinationStore } from '../coordination/store.js';
import { ZkgError } from '../errors.js';
import type { ConfigFormat } from './formats.js';
import type { ConfigLayout } from './namespace.js';

/** One release in a namespace's history. */
export interface Release {
  readonly version: number;
  readonly format: ConfigFormat;
  readonly author: string | undefined;
  readonly comment: string | undefined;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly size: number;
}

interface ReleaseHeader {
  version: number;
  format: ConfigFormat;
  author?: string | undefined;
  comment?: string | undefined;
  time: number;
}

/** A release znode's data: the header, a newline, the document. */
export function envelopeOf(header: ReleaseHeader, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify(header), 'utf8'), Buffer.from('\n'), body]);
}

function openEnvelope(data: Buffer, ctime: number): { release: Release; data: Buffer } {
  const newline = data.indexOf(0x0a);
  const header = JSON.parse(data.subarray(0, newline).toString('utf8')) as ReleaseHeader;
  const body = data.subarray(newline + 1);
  return {
    release: {
      version: header.version,
      format: header.format,
      author: header.author,
      comment: header.comment,
      time: header.time ?? ctime,
      size: body.length,
    },
    data: body,
  };
}

export class ReleaseHistory {
  constructor(
    private readonly store: CoordinationStore,
    private readonly layout: ConfigLayout,
  ) {}

  /** Release numbers kept for the namespace, ascending. */
  async numbers(namespace: string): Promise<number[]> {
    try {
      const { children } = await this.store.getChildren(this.layout.historyOf(namespace));
      return children
        .map(Number)
        .filter(Number.isInteger)
        .sort((a, b) => a - b);
    } catch (err) {
      if (isStoreError(err, ErrorCode.NO_NODE)) return [];
      throw err;
    }
  }

  /**
   * Releases, newest first, at most `limit`, only those older than `before` when given; none for a
   * namespace without history.
   */
  async list(namespace: string, limit: number, before = Infinity): Promise<Release[]> {
    const versions = (await this.numbers(namespace))
      .filter((v) => v < before)
      .reverse()
      .slice(0, limit);
    const releases = await Promise.all(
      versions.map((v) =>
        this.read(namespace, v).catch((err: unknown) => {
          // Trimmed by a concurrent publish between the listing and the read.
          if (err instanceof ZkgError && err.code === 'ZKG_RELEASE_NOT_FOUND') return undefined;
          throw err;
        }),
      ),
    );
    return releases.filter((r) => r !== undefined).map((r) => r.release);
  }

  async read(namespace: string, version: number): Promise<{ release: Release; data: Buffer }> {
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new ZkgError('ZKG_RELEASE_NOT_FOUND', `no release ${version} of ${namespace}`);
    }
    try {
      const node = await this.store.getData(this.layout.release(namespace, version));
      return openEnvelope(node.data, node.stat.ctime);
    } catch (err) {
      if (isStoreError(err, ErrorCode.NO_NODE)) {
        throw new ZkgError('ZKG_RELEASE_NOT_FOUND', `no release ${version} of ${namespace}`);
      }
      throw err;
    }
  }
}
