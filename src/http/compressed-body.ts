/**
 * A large body (a listing, a config document) kept once and compressed at most once per content
 * coding, shared by every request that sends it: a listing of 10,000 instances is 3 MB of JSON and
 * about a tenth of that compressed, so compressing it per request would cost more than sending
 * it, and sending it uncompressed is what limits discovery. Compression runs on libuv's thread
 * pool, off the event loop; concurrent requests wait for the same copy. The coding follows
 * `Accept-Encoding` (with its q-values, as @fastify/accept-negotiator reads them); small bodies go
 * as they are.
 */
import { negotiate } from '@fastify/accept-negotiator';
import type { FastifyReply } from 'fastify';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

/** Below this, compression saves less than it costs. */
export const MIN_COMPRESSED_BYTES = 8 * 1024;

type Coding = 'br' | 'gzip';
/** Brotli first when the client takes both equally: smaller at a quality this fast. */
const CODINGS: Coding[] = ['br', 'gzip'];

const compress: Record<Coding, (body: Buffer) => Promise<Buffer>> = {
  // Quality 4: about gzip's speed, with a smaller result; 11 (the default) is for static files.
  br: (body) =>
    promisify(brotliCompress)(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 4,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    }),
  gzip: (body) => promisify(gzip)(body, { level: 6 }),
};

export class CompressibleBody {
  readonly identity: Buffer;
  private readonly copies = new Map<Coding, Promise<Buffer>>();

  constructor(body: string | Buffer) {
    this.identity = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  }

  /** The body in the coding `acceptEncoding` prefers, compressed once; `coding` undefined for identity. */
  async encodedFor(
    acceptEncoding: string | undefined,
  ): Promise<{ body: Buffer; coding: Coding | undefined }> {
    const coding =
      acceptEncoding === undefined || this.identity.length < MIN_COMPRESSED_BYTES
        ? null
        : negotiate(acceptEncoding, CODINGS);
    if (coding === null) return { body: this.identity, coding: undefined };
    let copy = this.copies.get(coding);
    if (!copy) {
      copy = compress[coding](this.identity);
      this.copies.set(coding, copy);
    }
    try {
      return { body: await copy, coding };
    } catch {
      // zlib failing on a buffer means memory ran short: send it as it is, try again next time.
      this.copies.delete(coding);
      return { body: this.identity, coding: undefined };
    }
  }
}

/** Say that the answer depends on `Accept-Encoding`, keeping what else it varies on (CORS's `Origin`). */
export function varyOnEncoding(reply: FastifyReply): void {
  const current = reply.getHeader('vary');
  const list =
    current === undefined
      ? []
      : String(current)
          .split(',')
          .map((v) => v.trim());
  if (!list.some((v) => v.toLowerCase() === 'accept-encoding' || v === '*')) list.push('Accept-Encoding');
  void reply.header('vary', list.filter((v) => v !== '').join(', '));
}
