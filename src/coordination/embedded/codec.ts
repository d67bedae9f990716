/**
 * Big-endian binary encoding for transaction-log records and snapshots, in the manner of
 * ZooKeeper's jute: fixed-width integers and length-prefixed byte strings.
 */

/** Appends values to a growing buffer. */
export class BinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  u32(value: number): this {
    this.reserve(4);
    this.pos = this.buf.writeUInt32BE(value, this.pos);
    return this;
  }

  i32(value: number): this {
    this.reserve(4);
    this.pos = this.buf.writeInt32BE(value, this.pos);
    return this;
  }

  i64(value: bigint): this {
    this.reserve(8);
    this.pos = this.buf.writeBigInt64BE(value, this.pos);
    return this;
  }

  /** A millisecond timestamp, stored as ZooKeeper stores times: a 64-bit integer. */
  time(ms: number): this {
    if (ms < 0 || !Number.isSafeInteger(ms)) return this.i64(BigInt(ms));
    // Two 32-bit halves: the same bytes without a BigInt per field (snapshots write millions).
    this.reserve(8);
    this.pos = this.buf.writeUInt32BE(Math.floor(ms / 0x1_0000_0000), this.pos);
    this.pos = this.buf.writeUInt32BE(ms >>> 0, this.pos);
    return this;
  }

  bytes(value: Buffer): this {
    this.u32(value.length);
    this.reserve(value.length);
    this.pos += value.copy(this.buf, this.pos);
    return this;
  }

  string(value: string): this {
    const length = Buffer.byteLength(value);
    this.u32(length);
    this.reserve(length);
    this.pos += this.buf.write(value, this.pos, length, 'utf8');
    return this;
  }

  /** The bytes written so far (a view, valid until the next write). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

/** Reads what {@link BinaryWriter} wrote; throws a RangeError when the input ends early. */
export class BinaryReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  u32(): number {
    const value = this.buf.readUInt32BE(this.need(4));
    this.pos += 4;
    return value;
  }

  i32(): number {
    const value = this.buf.readInt32BE(this.need(4));
    this.pos += 4;
    return value;
  }

  i64(): bigint {
    const value = this.buf.readBigInt64BE(this.need(8));
    this.pos += 8;
    return value;
  }

  time(): number {
    return Number(this.i64());
  }

  /** A copy, so that the value does not pin the (possibly large) input buffer. */
  bytes(): Buffer {
    const length = this.u32();
    const start = this.need(length);
    this.pos += length;
    return Buffer.from(this.buf.subarray(start, start + length));
  }

  string(): string {
    const length = this.u32();
    const start = this.need(length);
    this.pos += length;
    return this.buf.toString('utf8', start, start + length);
  }

  private need(n: number): number {
    if (this.pos + n > this.buf.length) {
      throw new RangeError(`truncated input: ${n} bytes wanted at offset ${this.pos} of ${this.buf.length}`);
    }
    return this.pos;
  }
}
