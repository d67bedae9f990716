/**
 * What the gateway's embedded store wrote, read from outside the gateway process: the transaction
 * log in `<dataDir>/version-2/log.<zxid>`. The embedded store fsyncs a transaction before it
 * acknowledges it, so once a response has arrived every write the request waited for is in the
 * log; reading the log's tail after each response tells exactly which znodes a request changed.
 *
 * The reader is incremental (it keeps an offset per log file and reads only what was appended),
 * stops at a record that is still being written, and replays the data of every znode it has seen,
 * so that a write can be compared with what it overwrote (to recognise the health checker's
 * verdicts, which are background writes, see {@link isBackground}).
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { decodeTxn, TxnType, type SingleTxn, type Txn } from '../../src/coordination/embedded/txn.js';

const HEADER_BYTES = 16;
const FRAME_BYTES = 8;

/** One znode change a transaction made (error and check transactions change nothing). */
export interface ZnodeWrite {
  readonly zxid: bigint;
  readonly op: 'create' | 'delete' | 'setData';
  readonly path: string;
  /** The data written (create, setData). */
  readonly data?: Buffer;
  /** The data the znode held before (setData, delete), when it was seen being written. */
  readonly before?: Buffer;
}

export interface StoreLayout {
  /** `ZKGATE_ROOT` */
  readonly root: string;
  /** `ZKGATE_SERVICES_PATH` */
  readonly servicesPath: string;
}

/** Reads the transaction log of one data directory as it grows. */
export class StoreLogTail {
  private readonly dir: string;
  private readonly offsets = new Map<string, number>();
  private readonly data = new Map<string, Buffer>();
  private last = 0n;

  /** `keep`: the znodes whose data is remembered (for {@link ZnodeWrite.before}); all by default. */
  constructor(
    dataDir: string,
    private readonly keep: (path: string) => boolean = () => true,
  ) {
    this.dir = join(dataDir, 'version-2');
  }

  /** The highest zxid seen so far. */
  get lastZxid(): bigint {
    return this.last;
  }

  /** The znode changes logged since the previous call, oldest first. */
  async poll(): Promise<ZnodeWrite[]> {
    const writes: ZnodeWrite[] = [];
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => /^log\.[0-9a-f]+$/.test(n));
    } catch {
      return writes;
    }
    names.sort((a, b) => {
      const x = BigInt(`0x${a.slice(4)}`);
      const y = BigInt(`0x${b.slice(4)}`);
      return x < y ? -1 : x > y ? 1 : 0;
    });
    for (const name of names) {
      for (const payload of await this.readNew(join(this.dir, name))) {
        const txn = decodeTxn(payload);
        if (txn.zxid <= this.last) continue;
        this.last = txn.zxid;
        writes.push(...this.apply(txn));
      }
    }
    return writes;
  }

  /** Intact records appended to `path` since the last read; a record being written is left for later. */
  private async readNew(path: string): Promise<Buffer[]> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch {
      // Purged after a snapshot: everything in it was read before.
      return [];
    }
    try {
      const start = this.offsets.get(path) ?? HEADER_BYTES;
      const { size } = await handle.stat();
      if (size <= start) return [];
      const buf = Buffer.alloc(size - start);
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      const payloads: Buffer[] = [];
      let offset = 0;
      while (offset + FRAME_BYTES <= bytesRead) {
        const length = buf.readUInt32BE(offset);
        if (length === 0 || offset + FRAME_BYTES + length > bytesRead) break;
        const payload = buf.subarray(offset + FRAME_BYTES, offset + FRAME_BYTES + length);
        const sum = crc32(payload, crc32(buf.subarray(offset, offset + 4)));
        if (sum !== buf.readUInt32BE(offset + 4)) break;
        payloads.push(payload);
        offset += FRAME_BYTES + length;
      }
      this.offsets.set(path, start + offset);
      return payloads;
    } finally {
      await handle.close();
    }
  }

  private apply(txn: Txn): ZnodeWrite[] {
    const body = txn.body;
    if (body.type === TxnType.MULTI) {
      // A multi with an error sub-transaction changed nothing.
      if (body.txns.some((sub) => sub.type === TxnType.ERROR)) return [];
      return body.txns.flatMap((sub) => this.applySub(txn.zxid, sub));
    }
    if (body.type === TxnType.CLOSE_SESSION) {
      const writes = body.paths.map((path): ZnodeWrite => this.remove(txn.zxid, path));
      return writes;
    }
    if (body.type === TxnType.CREATE_SESSION) return [];
    return this.applySub(txn.zxid, body);
  }

  private applySub(zxid: bigint, sub: SingleTxn): ZnodeWrite[] {
    switch (sub.type) {
      case TxnType.CREATE:
        if (this.keep(sub.path)) this.data.set(sub.path, sub.data);
        return [{ zxid, op: 'create', path: sub.path, data: sub.data }];
      case TxnType.SET_DATA: {
        const before = this.data.get(sub.path);
        if (this.keep(sub.path)) this.data.set(sub.path, sub.data);
        return [{ zxid, op: 'setData', path: sub.path, data: sub.data, ...(before ? { before } : {}) }];
      }
      case TxnType.DELETE:
        return [this.remove(zxid, sub.path)];
      default:
        return [];
    }
  }

  private remove(zxid: bigint, path: string): ZnodeWrite {
    const before = this.data.get(path);
    this.data.delete(path);
    return { zxid, op: 'delete', path, ...(before ? { before } : {}) };
  }
}

/** Metadata keys that only the health checker's verdict changes (see src/registry/instance.ts). */
const VERDICT_KEYS = ['zkgate.status', 'zkgate.status.check', 'instance_status'];

function withoutVerdict(data: Buffer): string | undefined {
  try {
    const instance = JSON.parse(data.toString('utf8')) as {
      payload?: { metadata?: Record<string, unknown> };
    };
    const metadata = instance.payload?.metadata;
    if (metadata) for (const key of VERDICT_KEYS) delete metadata[key];
    return JSON.stringify(instance);
  } catch {
    return undefined;
  }
}

/**
 * Writes the gateway makes on its own, whatever requests it serves: its membership and election
 * znodes, the elected reaper's self-preservation holds and its consumption of operator releases,
 * and the health checker's verdicts (a setData on an instance znode that changes nothing
 * but the status keys). Tombstone pruning and lease eviction are kept out of a fuzz run by the
 * gateway's settings (a 7-day retention, a 24-hour eviction grace). Audit records are judged by
 * the change in whose transaction each one rides (a verdict's record with the verdict), never
 * alone.
 */
export function isBackground(write: ZnodeWrite, layout: StoreLayout): boolean {
  if (write.path.startsWith(`${layout.root}/gateways/`)) return true;
  if (write.path.startsWith(`${layout.root}/audit/`)) return true;
  if (write.path.startsWith(`${layout.root}/election/`)) return true;
  if (write.path.startsWith(`${layout.root}/reaper/`) && write.op !== 'create') return true;
  const instance = write.path.startsWith(`${layout.servicesPath}/`)
    ? write.path.slice(layout.servicesPath.length + 1).split('/')
    : [];
  if (write.op === 'setData' && instance.length === 2 && write.before && write.data) {
    const before = withoutVerdict(write.before);
    return before !== undefined && before === withoutVerdict(write.data);
  }
  return false;
}
