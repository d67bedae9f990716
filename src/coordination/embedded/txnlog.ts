/**
 * The transaction log. A file is ZooKeeper's 16-byte header (magic `ZKLG`, a version, dbid 0)
 * followed by records framed as `u32 length | u32 crc32(length, payload) | payload`, one per
 * transaction. Appends are group-committed: everything submitted while one write + fdatasync is
 * in progress goes out together in the next one, and a transaction is reported durable (and only
 * then acknowledged) after the fdatasync that covers it.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import type { DataDir, DataFile, Warn } from './datadir.js';
import { TxnFormat } from './txn.js';

/** The header of a file whose records are in `format`; ZooKeeper's own logs say version 2. */
function header(format: TxnFormat): Buffer {
  const bytes = Buffer.from([0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  bytes.writeInt32BE(format, 4);
  return bytes;
}

/** New files are written in the current format; files of earlier ones stay readable. */
const HEADER = header(TxnFormat.ACL);
const READABLE: readonly TxnFormat[] = [TxnFormat.NO_ACL, TxnFormat.ACL];
const HEADER_BYTES = HEADER.length;
const FRAME_BYTES = 8;

export interface TxnLogHooks {
  /** Every transaction up to `lastZxid` is on disk. Called between batches, never concurrently. */
  onDurable(lastZxid: bigint): void;
  /** A write or fsync failed: what was queued is lost and the log accepts nothing more. */
  onError(err: unknown): void;
}

/** Appends to the current log file with group commit, rolling to a new file after each snapshot. */
export class TxnLogWriter {
  private queue: Buffer[] = [];
  private firstQueued = 0n;
  private lastQueued = 0n;
  private file: FileHandle | undefined;
  private rollPending = false;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly dataDir: DataDir,
    private readonly fsync: boolean,
    private readonly hooks: TxnLogHooks,
  ) {}

  /** Queues a transaction's record; {@link TxnLogHooks.onDurable} reports it once it is on disk. */
  append(zxid: bigint, payload: Buffer): void {
    if (this.queue.length === 0) this.firstQueued = zxid;
    this.queue.push(frame(payload));
    this.lastQueued = zxid;
    // Start on a later microtask so that writes submitted in the same turn share the first fsync.
    this.flushing ??= Promise.resolve().then(() => this.flush());
  }

  /** The next transaction starts a new file (called when a snapshot is taken). */
  roll(): void {
    this.rollPending = true;
  }

  /** Waits until everything appended is durable, then closes the file. */
  async close(): Promise<void> {
    while (this.flushing) await this.flushing;
    await this.file?.close();
    this.file = undefined;
  }

  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = Buffer.concat(this.queue);
        const first = this.firstQueued;
        const last = this.lastQueued;
        this.queue = [];
        const file = await this.fileStartingAt(first);
        for (let offset = 0; offset < batch.length;) {
          offset += (await file.write(batch, offset)).bytesWritten;
        }
        if (this.fsync) await file.datasync();
        this.hooks.onDurable(last);
      }
    } catch (err) {
      this.queue = [];
      this.hooks.onError(err);
    } finally {
      this.flushing = undefined;
    }
  }

  private async fileStartingAt(zxid: bigint): Promise<FileHandle> {
    if (this.file && !this.rollPending) return this.file;
    this.rollPending = false;
    await this.file?.close();
    this.file = undefined;
    this.file = await this.dataDir.createFile(this.dataDir.logPath(zxid), HEADER);
    return this.file;
  }
}

/** A record as it is written: length, checksum, payload. */
function frame(payload: Buffer): Buffer {
  const record = Buffer.allocUnsafe(FRAME_BYTES + payload.length);
  record.writeUInt32BE(payload.length, 0);
  payload.copy(record, FRAME_BYTES);
  record.writeUInt32BE(checksum(record, 0, payload.length), 4);
  return record;
}

/** Covers the length field as well, so that a damaged length is detected rather than trusted. */
function checksum(buf: Buffer, offset: number, length: number): number {
  const start = offset + FRAME_BYTES;
  return crc32(buf.subarray(start, start + length), crc32(buf.subarray(offset, offset + 4)));
}

/** Why the record at `offset` is unreadable, or undefined when it is intact. */
function recordProblem(buf: Buffer, offset: number): string | undefined {
  if (buf.length - offset < FRAME_BYTES)
    return `${buf.length - offset} bytes where a record header was expected`;
  const length = buf.readUInt32BE(offset);
  if (length === 0) return 'empty record';
  if (offset + FRAME_BYTES + length > buf.length) {
    return `record of ${length} bytes but only ${buf.length - offset - FRAME_BYTES} present`;
  }
  if (checksum(buf, offset, length) !== buf.readUInt32BE(offset + 4)) return 'checksum mismatch';
  return undefined;
}

/**
 * The payloads of a log file's intact records, and the format they are in. At the tail of the newest log, a damaged record
 * with nothing intact after it is a write torn by a crash: it was never acknowledged (its fsync
 * had not returned), so it is dropped and cut off with a warning. Anywhere else damage means
 * lost acknowledged transactions, and this throws an error naming the file and offset.
 */
export async function readLog(
  log: DataFile,
  newest: boolean,
  warn: Warn,
): Promise<{ format: TxnFormat; payloads: Buffer[] }> {
  const buf = await readFile(log.path);
  const format = READABLE.find((f) => buf.subarray(0, HEADER_BYTES).equals(header(f)));
  if (format === undefined) {
    throw new Error(`transaction log ${log.path} has no valid header; the data directory is damaged`);
  }
  const payloads: Buffer[] = [];
  let offset = HEADER_BYTES;
  let end = buf.length;
  while (offset < buf.length) {
    const problem = recordProblem(buf, offset);
    if (problem === undefined) {
      const length = buf.readUInt32BE(offset);
      payloads.push(buf.subarray(offset + FRAME_BYTES, offset + FRAME_BYTES + length));
      offset += FRAME_BYTES + length;
      continue;
    }
    if (!newest || intactRecordAfter(buf, offset + 1)) {
      const after = newest ? 'intact records follow it' : 'newer logs follow it';
      throw new Error(
        `transaction log ${log.path} is damaged at offset ${offset} (${problem}) and ${after}, ` +
          'so it is not a torn final write; refusing to start rather than lose acknowledged transactions',
      );
    }
    warn(
      `dropping a torn record at the end of ${log.path} (offset ${offset}: ${problem}); it was never acknowledged`,
    );
    end = offset;
    break;
  }
  if (newest) {
    // A killed process may leave records that reached the page cache but not the disk; this
    // process builds on them, so make them durable first (and cut a torn tail for good).
    const handle = await open(log.path, 'r+');
    try {
      if (end < buf.length) await handle.truncate(end);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return { format, payloads };
}

/** Whether an intact record starts anywhere from `from` on (framing is lost after damage). */
function intactRecordAfter(buf: Buffer, from: number): boolean {
  for (let offset = from; offset + FRAME_BYTES < buf.length; offset++) {
    if (recordProblem(buf, offset) === undefined) return true;
  }
  return false;
}
