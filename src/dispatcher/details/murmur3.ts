/**
 * MurmurHash3 x86_32 over the UTF-8 bytes of a string.
 *
 * Why this hash: the ring needs a hash that is stable forever (every gateway replica, every
 * release, must place a key on the same instance) and that scatters near-identical inputs
 * (`orders-1#0`, `orders-1#1`, ...) across the whole 32-bit space. FNV-1a 32 is weak at the
 * latter; md5/sha1 through node:crypto are good but cost a native call and an allocation per
 * hash; MurmurHash3 is both well distributed and a few dozen integer operations.
 */

const encoder = new TextEncoder();
// Reused across calls so hashing a key allocates nothing; grown when a longer string arrives.
let scratch = new Uint8Array(256);

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/**
 * The 32-bit MurmurHash3 (x86_32) of `text` encoded as UTF-8, as an unsigned integer.
 *
 * @example
 * ```ts
 * murmur3('hello'); // 0x248bfa47
 * ```
 */
export function murmur3(text: string, seed = 0): number {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  const { written } = encoder.encodeInto(text, scratch);
  const bytes = scratch;
  let h = seed >>> 0;
  const blocks = written & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k =
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = written & 3;
  if (tail > 0) {
    let k = bytes[blocks] as number;
    if (tail >= 2) k ^= (bytes[blocks + 1] as number) << 8;
    if (tail === 3) k ^= (bytes[blocks + 2] as number) << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= written;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
