/**
 * Configuration document formats. A namespace's document is published as the raw HTTP body,
 * its format chosen by the request Content-Type and kept in metadata. The bytes are stored as
 * sent (never re-serialized); this module only validates them on publish, so a malformed
 * document is refused with the line and column of the fault, and yields the parsed value that
 * JSON-Schema validation works on.
 *
 * Here: the formats, Content-Type negotiation, UTF-8 decoding (common to all) and the one entry
 * point, {@link parseDocument}; each format's parser is in `formats/`, apart because each has
 * its own hazards to bound.
 */
import { ZkgError } from '../errors.js';
import { parseJson } from './formats/json.js';
import { malformedAt } from './formats/malformed.js';
import { parseProperties } from './formats/properties.js';
import { parseYamlDocument } from './formats/yaml.js';

/** A document format a namespace can hold. */
export type ConfigFormat = 'json' | 'yaml' | 'properties' | 'text';

/** Every format, in a stable order (for listings and OpenAPI enums). */
export const CONFIG_FORMATS: readonly ConfigFormat[] = Object.freeze(['json', 'yaml', 'properties', 'text']);

/** Response media type per format. */
const MEDIA_TYPES: Readonly<Record<ConfigFormat, string>> = {
  json: 'application/json',
  yaml: 'application/yaml',
  properties: 'text/x-java-properties',
  text: 'text/plain',
};

/**
 * The Content-Type a document of `format` is served with. Always declares UTF-8, the only
 * encoding documents are accepted in.
 */
export function contentTypeOf(format: ConfigFormat): string {
  return `${MEDIA_TYPES[format]}; charset=utf-8`;
}

/** Request media types (lower case, without parameters) per format; `+json` is handled apart. */
const REQUEST_TYPES: ReadonlyMap<string, ConfigFormat> = new Map<string, ConfigFormat>([
  ['application/json', 'json'],
  ['application/yaml', 'yaml'],
  ['application/x-yaml', 'yaml'],
  ['text/yaml', 'yaml'],
  ['text/x-yaml', 'yaml'],
  ['text/x-java-properties', 'properties'],
  ['text/properties', 'properties'],
  ['application/x-java-properties', 'properties'],
  ['text/plain', 'text'],
]);

/** Charsets a request may declare: documents are decoded as UTF-8, of which US-ASCII is a subset. */
const ACCEPTED_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'us-ascii']);

/** The accepted types, spelled out in every 415 so a client can fix its request. */
const ACCEPTED_DETAIL =
  'accepted: application/json (or any +json type), application/yaml (or any +yaml type), ' +
  'application/x-yaml, text/yaml, text/x-yaml, text/x-java-properties, text/properties, ' +
  'application/x-java-properties, text/plain; charset, if given, must be utf-8 or us-ascii';

/** RFC 9110 `token`: what type, subtype and parameter names are made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Header values are echoed in the 415 detail; cap them so a huge header does not bloat it. */
const MAX_ECHO = 100;

function unsupportedMediaType(reason: string): ZkgError {
  return new ZkgError('ZKG_UNSUPPORTED_MEDIA_TYPE', `${reason}; ${ACCEPTED_DETAIL}`);
}

function echo(value: string): string {
  return JSON.stringify(value.length > MAX_ECHO ? `${value.slice(0, MAX_ECHO)}…` : value);
}

/**
 * The format of a request body from its Content-Type. The media type is matched
 * case-insensitively and parameters are ignored, except `charset`, which must be UTF-8 (or its
 * subset US-ASCII) because documents are validated and served as UTF-8.
 *
 * @throws ZkgError `ZKG_UNSUPPORTED_MEDIA_TYPE` when the header is missing, unparseable, names
 *   another type, or declares another charset; the detail lists the accepted types.
 */
export function formatFromContentType(contentType: string | undefined): ConfigFormat {
  if (contentType === undefined || contentType.trim() === '') {
    return fail('a Content-Type header is required');
  }
  const [essence = '', ...params] = contentType.split(';');
  const mediaType = essence.trim().toLowerCase();
  const slash = mediaType.indexOf('/');
  const type = mediaType.slice(0, slash);
  const subtype = mediaType.slice(slash + 1);
  if (slash < 0 || !TOKEN.test(type) || !TOKEN.test(subtype)) {
    return fail(`Content-Type ${echo(contentType)} is not a media type`);
  }
  const format =
    REQUEST_TYPES.get(mediaType) ??
    // Structured syntax suffixes (RFC 6838 §4.2.8, RFC 9512): a vendor type built on JSON or
    // YAML is that format. A bare "+json" subtype is not a suffix.
    (subtype.length > 5 && subtype.endsWith('+json') ? 'json' : undefined) ??
    (subtype.length > 5 && subtype.endsWith('+yaml') ? 'yaml' : undefined);
  if (format === undefined) return fail(`Content-Type ${echo(mediaType)} is not supported`);

  for (const param of params) {
    const eq = param.indexOf('=');
    // Only charset matters; anything else, even malformed, is ignored as the contract says.
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    let charset = param
      .slice(eq + 1)
      .trim()
      .toLowerCase();
    if (charset.length >= 2 && charset.startsWith('"') && charset.endsWith('"'))
      charset = charset.slice(1, -1);
    if (!ACCEPTED_CHARSETS.has(charset)) return fail(`charset ${echo(charset)} is not supported`);
  }
  return format;
}

/** `throw` as an expression, so call sites read as returns of the refusal. */
function fail(reason: string): never {
  throw unsupportedMediaType(reason);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** The result of validating a document: its parsed value. */
export interface ParsedDocument {
  /**
   * json/yaml: the JSON-compatible value (YAML may add NaN/±Infinity); properties: a
   * null-prototype `Record<string, string>`; text: the decoded string.
   */
  value: unknown;
}

/**
 * Fatal so invalid UTF-8 is refused instead of silently becoming U+FFFD; `ignoreBOM` keeps a
 * byte order mark in the text so each format decides about it (JSON refuses it, YAML skips it,
 * properties skips it, text keeps it).
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Only used on a prefix already known to be valid, to locate a fault. */
const UTF8_LENIENT = new TextDecoder('utf-8', { ignoreBOM: true });

const BOM = '\uFEFF';

/**
 * Validate a document in its format and return its parsed value. The body must be valid UTF-8
 * in every format. JSON and YAML documents are refused, like malformed ones, when they nest
 * deeper than MAX_DOCUMENT_DEPTH levels; YAML also when its aliases expand past
 * MAX_DOCUMENT_VALUES values or that depth, or hold more than 1000 anchors or aliases.
 *
 * @throws ZkgError `ZKG_CONFIG_MALFORMED` with detail `<format>: <message> at line L, column C`
 *   and extensions `{ format, line, column }` (1-based; columns count UTF-16 code units, as
 *   editors and LSP do).
 */
export function parseDocument(format: ConfigFormat, body: Buffer): ParsedDocument {
  const text = decodeUtf8(format, body);
  switch (format) {
    case 'json':
      return { value: parseJson(text) };
    case 'yaml':
      return { value: parseYamlDocument(text) };
    case 'properties':
      // Java's reader would make a BOM part of the first key, an invisible trap; editors on
      // Windows add one to UTF-8 files, so skip it.
      return { value: parseProperties(text, text.startsWith(BOM) ? 1 : 0) };
    case 'text':
      return { value: text };
  }
}

function decodeUtf8(format: ConfigFormat, body: Buffer): string {
  try {
    return UTF8.decode(body);
  } catch {
    // The decoder does not say where; find the first bad sequence to point at it.
    const bad = firstInvalidUtf8(body);
    const at = bad < 0 ? body.length : bad;
    const prefix = UTF8_LENIENT.decode(body.subarray(0, at));
    const byte = body[at];
    const what = byte === undefined ? 'truncated sequence' : `byte 0x${byte.toString(16).padStart(2, '0')}`;
    throw malformedAt(format, `invalid UTF-8 (${what} at byte offset ${at})`, prefix, prefix.length);
  }
}

/**
 * Offset of the first byte that starts an ill-formed UTF-8 sequence (Unicode Table 3-7: no
 * overlongs, surrogates or code points above U+10FFFF), or -1 when the buffer is well formed.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) [need, lo] = [2, 0xa0];
    else if (b === 0xed) [need, hi] = [2, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) need = 2;
    else if (b === 0xf0) [need, lo] = [3, 0x90];
    else if (b === 0xf4) [need, hi] = [3, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
      if (c === undefined || c < min || c > max) return i;
    }
    i += need + 1;
  }
  return -1;
}
