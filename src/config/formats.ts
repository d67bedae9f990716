/**
 * Configuration document formats. A namespace's document is published as the raw HTTP body,
 * its format chosen by the request Content-Type and kept in metadata. The bytes are stored as
 * sent (never re-serialized); this module only validates them on publish, so a malformed
 * document is refused with the line and column of the fault, and yields the parsed value that
 * JSON-Schema validation works on.
 */
import {
  Composer,
  Lexer,
  LineCounter,
  Parser,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  type CST,
  type Document,
  type Node as YamlNode,
  type Pair,
} from 'yaml';

import { ZkgError } from '../errors.js';
import { MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_VALUES, jsonNestingFault } from './limits.js';

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

function malformed(format: ConfigFormat, message: string, line: number, column: number): ZkgError {
  return new ZkgError('ZKG_CONFIG_MALFORMED', `${format}: ${message} at line ${line}, column ${column}`, {
    extensions: { format, line, column },
  });
}

/** Line and column (1-based, UTF-16 units) of `offset`; CRLF, CR and LF each end a line. */
function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const end = Math.min(Math.max(offset, 0), text.length);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    // In CRLF the LF ends the line, so an offset on that LF stays on the line it ends.
    if (c === 0x0a || (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

function malformedAt(format: ConfigFormat, message: string, text: string, offset: number): ZkgError {
  const { line, column } = lineColumnAt(text, offset);
  return malformed(format, message, line, column);
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

// --- JSON -------------------------------------------------------------------------------------

/** V8's position suffix: " in JSON at position N", optionally "(line L column C)" (V8 ≥ 11.x). */
const V8_POSITION = /\s+in JSON at position (\d+)/;
const V8_LINE_COLUMN = /\s*\(line (\d+) column (\d+)\)/;

const TOO_DEEP = `nested deeper than ${MAX_DOCUMENT_DEPTH} levels`;

function parseJson(text: string): unknown {
  // V8's JSON.parse does not recurse, but everything that walks its result does.
  const deep = jsonNestingFault(text, MAX_DOCUMENT_DEPTH);
  if (deep >= 0) throw malformedAt('json', TOO_DEEP, text, deep);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw jsonError(text, message);
  }
}

/**
 * Turn V8's JSON.parse message into a located error. Node 20's V8 says "… in JSON at position N"
 * for most faults, but for an unexpected token (e.g. a trailing comma in an array, a BOM) it says
 * `Unexpected token 'X', "<document excerpt>" is not valid JSON` with no position at all, and
 * newer V8 appends "(line L column C)". The excerpt is never echoed (documents hold secrets);
 * when V8 gives no position a small scanner finds the fault, and end of input is the last
 * resort.
 */
function jsonError(text: string, v8Message: string): ZkgError {
  const position = V8_POSITION.exec(v8Message);
  const lineColumn = V8_LINE_COLUMN.exec(v8Message);
  let message = v8Message.replace(V8_POSITION, '').replace(V8_LINE_COLUMN, '');
  const unexpectedToken = message.startsWith('Unexpected token ');
  // Drop V8's excerpt (`, "<document>" is not valid JSON`); the token is named below instead.
  if (unexpectedToken) message = message.replace(/, ".*$/s, '');

  let offset: number;
  if (position) offset = Number(position[1]);
  else if (lineColumn) return malformed('json', message, Number(lineColumn[1]), Number(lineColumn[2]));
  else offset = locateJsonError(text);
  if (offset < 0 || offset > text.length) offset = text.length;
  // The scanner's offset names the character exactly (V8 prints a BOM or control character raw).
  if (unexpectedToken && offset < text.length) message = unexpectedCharacter(text, offset);
  return malformedAt('json', message, text, endOfContent(text, offset));
}

/**
 * At end of input, point just past the last non-blank character: with a trailing newline the
 * real end is on an empty line the user did not write, and "line 3" reads better than "line 4,
 * column 1" for an unclosed brace on line 3.
 */
function endOfContent(text: string, offset: number): number {
  if (offset < text.length) return offset;
  return text.replace(/[ \t\r\n]+$/, '').length;
}

function unexpectedCharacter(text: string, offset: number): string {
  const cp = text.codePointAt(offset) ?? 0;
  if (cp === 0xfeff) return 'Unexpected byte order mark (not allowed in JSON)';
  // Invisible characters (controls, format characters, any kind of space) by code point.
  return !/[\p{C}\p{Z}]/u.test(String.fromCodePoint(cp))
    ? `Unexpected token '${String.fromCodePoint(cp)}'`
    : `Unexpected character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Offset of the first RFC 8259 syntax error in `text` (its length for a premature end), or -1
 * if it is valid JSON. Only used to locate a fault V8 reported without a position; iterative,
 * so deep nesting cannot overflow the stack.
 */
function locateJsonError(text: string): number {
  const n = text.length;
  // One entry per open container: true for an object, false for an array.
  const stack: boolean[] = [];
  let i = 0;

  const skipWs = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i++;
    }
  };
  /** Scan a string starting at its opening quote; false leaves `i` at the fault. */
  const scanString = (): boolean => {
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) {
          i = n;
          return false;
        }
        if (e === 'u') {
          for (let k = 2; k < 6; k++) {
            if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
              i = Math.min(i + k, n);
              return false;
            }
          }
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e)) {
          i++;
          return false;
        }
        i += 2;
        continue;
      }
      i++;
    }
    return false;
  };
  const digits = (): number => {
    const start = i;
    while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
    return i - start;
  };
  const scanNumber = (): boolean => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (digits() === 0) return false;
    if (text[i] === '.') {
      i++;
      if (digits() === 0) return false;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (digits() === 0) return false;
    }
    return true;
  };
  const scanLiteral = (word: string): boolean => {
    for (let k = 0; k < word.length; k++, i++) if (text[i] !== word[k]) return false;
    return true;
  };
  /** After '{' or ',' in an object: a key and its colon. */
  const scanKey = (): boolean => {
    skipWs();
    if (text[i] !== '"' || !scanString()) return false;
    skipWs();
    if (text[i] !== ':') return false;
    i++;
    return true;
  };

  for (;;) {
    // Expect a value.
    skipWs();
    const c = text[i];
    let scalarOk = true;
    if (c === '{') {
      i++;
      skipWs();
      if (text[i] === '}') i++;
      else {
        stack.push(true);
        if (!scanKey()) return i;
        continue;
      }
    } else if (c === '[') {
      i++;
      skipWs();
      if (text[i] === ']') i++;
      else {
        stack.push(false);
        continue;
      }
    } else if (c === '"') scalarOk = scanString();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) scalarOk = scanNumber();
    else if (c === 't') scalarOk = scanLiteral('true');
    else if (c === 'f') scalarOk = scanLiteral('false');
    else if (c === 'n') scalarOk = scanLiteral('null');
    else return i;
    if (!scalarOk) return i;

    // After a value: close containers or move to the next element.
    for (;;) {
      skipWs();
      const top = stack.at(-1);
      if (top === undefined) return i < n ? i : -1;
      const d = text[i];
      if (d === ',') {
        i++;
        if (top && !scanKey()) return i;
        break;
      }
      if (d === (top ? '}' : ']')) {
        stack.pop();
        i++;
        continue;
      }
      return i;
    }
  }
}

// --- YAML -------------------------------------------------------------------------------------

/**
 * How often an anchor may be aliased, weighed by the aliases inside it (yaml's `maxAliasCount`):
 * enough for real reuse, low enough that a "billion laughs" document fails fast.
 */
const YAML_MAX_ALIAS_COUNT = 100;

/**
 * Anchors, and aliases, a document may hold. `toJS` resolves each alias by scanning every anchor
 * and alias before it, quadratic in their number (40,000 aliases took 26 s); real documents have
 * a handful.
 */
const YAML_MAX_ANCHORS = 1000;

type YamlError = (message: string, offset: number) => ZkgError;

/**
 * A YAML document, bounded at each stage. yaml's Lexer is iterative, but its Parser recurses
 * when one token closes many levels, and its Composer and `toJS` recurse per level: so the CST is
 * built one lexeme at a time and refused as soon as it nests too deep; the composed Document is
 * then measured with its aliases expanded, and only then turned into a value.
 */
function parseYamlDocument(text: string): unknown {
  const lines = new LineCounter();
  const at: YamlError = (message, offset) => {
    const { line, col } = lines.linePos(offset);
    return malformed('yaml', message, line, col);
  };
  const composer = new Composer({
    // Duplicate keys are almost always a merge mistake and YAML 1.2 forbids them, but yaml
    // compares each key with every earlier one (40,000 keys took 15 s): measureYaml checks them.
    uniqueKeys: false,
    // Otherwise yaml reports some oddities (e.g. collection keys) via process.emitWarning:
    // client input must not write to the server's stderr.
    logLevel: 'error',
  });
  let doc: Document.Parsed | undefined;
  let second: Document.Parsed | undefined;
  for (const composed of composer.compose(boundedYamlTokens(text, lines, at), true, text.length)) {
    if (doc === undefined) doc = composed;
    else {
      second = composed;
      break;
    }
  }
  // compose(…, forceDoc) yields a document for any input, even an empty one.
  if (doc === undefined) return null;
  const first = doc.errors[0];
  if (first) throw at(first.message, first.pos[0]);
  // YAML 1.2 §6.8.1: a document of a later major version is refused (yaml only warns); a later
  // minor version is read as 1.2.
  for (const warning of doc.warnings) {
    const major = /^Unsupported YAML version (\d+)\./.exec(warning.message)?.[1];
    if (major !== undefined && Number(major) > 1) {
      throw at(`YAML version ${major}.x is not supported (this is a YAML 1.2 parser)`, warning.pos[0]);
    }
  }
  // A namespace holds exactly one document.
  if (second) throw at('Source contains multiple documents', second.range[0]);
  const { firstAlias } = measureYaml(doc, at);
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
  } catch (err) {
    // What is left for toJS to refuse (an alias count over the limit, a merge of a non-map)
    // comes without a position: point at the first alias.
    throw at(err instanceof Error ? err.message : String(err), Math.max(firstAlias, 0));
  }
}

/** yaml's Parser, fed one lexeme at a time, refusing a CST nested deeper than the limit. */
function* boundedYamlTokens(text: string, lines: LineCounter, at: YamlError): Generator<CST.Token> {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    yield* parser.next(lexeme);
    // The stack holds the open collections plus the document and a scalar: count only when it
    // may matter. A lexeme opens at most one level, so the Parser never recurses deeper.
    if (parser.stack.length <= MAX_DOCUMENT_DEPTH) continue;
    const open = parser.stack.filter(
      (t) => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection',
    );
    const deepest = open[MAX_DOCUMENT_DEPTH];
    if (deepest) throw at(TOO_DEEP, deepest.offset);
  }
  yield* parser.end();
}

interface Extent {
  /** Values (scalars, keys, collections) once aliases are expanded. */
  readonly values: number;
  /** Levels of collections, `[[1]]` being 2. */
  readonly depth: number;
}

const LEAF: Extent = { values: 1, depth: 0 };
const NOTHING: Extent = { values: 0, depth: 0 };

/**
 * Check a composed document as validation will walk it, aliases expanded, before `toJS` builds
 * it (merge keys copy their source, so toJS itself can be the explosion): at most
 * MAX_DOCUMENT_VALUES values and MAX_DOCUMENT_DEPTH levels, YAML_MAX_ANCHORS anchors and
 * aliases, unique scalar keys, no alias inside its own anchor (a cycle, which has no JSON value),
 * no alias before its anchor. One pass in document order, the order in which yaml resolves an
 * alias to the latest anchor of its name; an anchored node is measured once however often it
 * is aliased. Recursion follows the document's own nesting, which the parser bounded.
 *
 * @returns the offset of the first alias, -1 if there is none.
 */
function measureYaml(doc: Document.Parsed, at: YamlError): { firstAlias: number } {
  const anchors = new Map<string, YamlNode>();
  // Anchored nodes once measured; an anchored node not in here yet encloses the current one.
  const measured = new Map<YamlNode, Extent>();
  let anchorCount = 0;
  let aliasCount = 0;
  let firstAlias = -1;

  const startOf = (item: unknown): number =>
    isPair(item) ? startOf(item.key ?? item.value) : ((item as YamlNode | null)?.range?.[0] ?? 0);

  const uniqueKeys = (pairs: readonly Pair[]): void => {
    const seen = new Set<unknown>();
    for (const { key } of pairs) {
      // yaml's rule: scalar keys are equal when their values are (===, so never NaN); merge keys
      // (`<<`) resolve to distinct symbols; collection and alias keys are never equal.
      if (!isScalar(key) || Number.isNaN(key.value)) continue;
      if (seen.has(key.value)) throw at('Map keys must be unique', startOf(key));
      seen.add(key.value);
    }
  };

  /** `level`: collections enclosing `item`. */
  const measure = (item: unknown, level: number): Extent => {
    if (isPair(item)) {
      const key = measure(item.key, level);
      const value = measure(item.value, level);
      return { values: key.values + value.values, depth: Math.max(key.depth, value.depth) };
    }
    if (isAlias(item)) {
      const offset = startOf(item);
      if (++aliasCount > YAML_MAX_ANCHORS) throw at(`more than ${YAML_MAX_ANCHORS} aliases`, offset);
      if (firstAlias < 0) firstAlias = offset;
      const anchored = anchors.get(item.source);
      if (anchored === undefined) {
        throw at(`Unresolved alias (the anchor must be set before the alias): ${item.source}`, offset);
      }
      const extent = measured.get(anchored);
      if (extent === undefined) throw at(`Alias *${item.source} is inside its own anchor (a cycle)`, offset);
      if (level + extent.depth > MAX_DOCUMENT_DEPTH)
        throw at(`${TOO_DEEP} once aliases are expanded`, offset);
      return extent;
    }
    if (!isScalar(item) && !isCollection(item)) return NOTHING;
    if (item.anchor) {
      if (++anchorCount > YAML_MAX_ANCHORS) throw at(`more than ${YAML_MAX_ANCHORS} anchors`, startOf(item));
      anchors.set(item.anchor, item);
    }
    let extent = LEAF;
    if (isCollection(item)) {
      if (isMap(item)) uniqueKeys(item.items as Pair[]);
      let values = 1;
      let depth = 1;
      for (const child of item.items) {
        const inner = measure(child, level + 1);
        values += inner.values;
        if (values > MAX_DOCUMENT_VALUES) {
          throw at(`more than ${MAX_DOCUMENT_VALUES} values once aliases are expanded`, startOf(child));
        }
        depth = Math.max(depth, inner.depth + 1);
      }
      if (level + depth > MAX_DOCUMENT_DEPTH) throw at(TOO_DEEP, startOf(item));
      extent = { values, depth };
    }
    if (item.anchor) measured.set(item, extent);
    return extent;
  };

  measure(doc.contents, 0);
  return { firstAlias };
}

// --- Java properties --------------------------------------------------------------------------

const isPropsBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\f';
const isEol = (c: string | undefined): boolean => c === '\n' || c === '\r';

const PROPS_ESCAPES: Readonly<Record<string, string>> = { t: '\t', n: '\n', r: '\r', f: '\f' };

/**
 * A `.properties` document with `java.util.Properties.load(Reader)` semantics: natural lines end
 * with LF, CR or CRLF; leading blanks (space, tab, form feed) are skipped; lines whose first
 * non-blank is `#` or `!` are comments (and cannot be continued); an odd number of trailing
 * backslashes joins the next line, minus its leading blanks; the key ends at the first
 * unescaped `=`, `:` or blank, and blanks plus at most one `=`/`:` separate it from the value;
 * escapes `\t \n \r \f \uXXXX` are decoded and any other escaped character stands for itself.
 * Duplicate keys: the last wins, as in Java. Unlike Java, a malformed `\u` escape is reported
 * with its position (Java throws IllegalArgumentException with none).
 */
function parseProperties(text: string, start: number): Record<string, string> {
  // Null prototype: a key like "__proto__" or "constructor" is just a key.
  const result = Object.create(null) as Record<string, string>;
  const n = text.length;
  let i = start;
  while (i < n) {
    const c = text[i];
    if (isPropsBlank(c) || isEol(c)) {
      i++;
      continue;
    }
    if (c === '#' || c === '!') {
      while (i < n && !isEol(text[i])) i++;
      continue;
    }
    // A logical line: its characters, and each one's offset in `text` for error positions.
    let line = '';
    const offsets: number[] = [];
    for (;;) {
      const segmentStart = i;
      while (i < n && !isEol(text[i])) i++;
      let segmentEnd = i;
      let backslashes = 0;
      while (segmentEnd - backslashes > segmentStart && text[segmentEnd - backslashes - 1] === '\\')
        backslashes++;
      const continued = backslashes % 2 === 1;
      if (continued) segmentEnd--;
      line += text.slice(segmentStart, segmentEnd);
      for (let k = segmentStart; k < segmentEnd; k++) offsets.push(k);
      if (!continued || i >= n) break;
      // Consume the line terminator, then the continuation line's leading blanks (not line
      // terminators: an empty continuation line ends the logical line).
      i += text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1;
      while (i < n && isPropsBlank(text[i])) i++;
    }
    const { key, value } = splitProperty(line);
    result[unescapeProperty(text, line, offsets, 0, key)] = unescapeProperty(
      text,
      line,
      offsets,
      value,
      line.length,
    );
  }
  return result;
}

/** Where the key ends and the value starts in a logical line (Properties.load0). */
function splitProperty(line: string): { key: number; value: number } {
  const limit = line.length;
  let keyLen = 0;
  let valueStart = limit;
  let hasSeparator = false;
  let precedingBackslash = false;
  while (keyLen < limit) {
    const c = line[keyLen];
    if ((c === '=' || c === ':') && !precedingBackslash) {
      valueStart = keyLen + 1;
      hasSeparator = true;
      break;
    }
    if (isPropsBlank(c) && !precedingBackslash) {
      valueStart = keyLen + 1;
      break;
    }
    precedingBackslash = c === '\\' ? !precedingBackslash : false;
    keyLen++;
  }
  while (valueStart < limit) {
    const c = line[valueStart];
    if (!isPropsBlank(c)) {
      if (!hasSeparator && (c === '=' || c === ':')) hasSeparator = true;
      else break;
    }
    valueStart++;
  }
  return { key: keyLen, value: valueStart };
}

/** Decode escapes in `line[from, to)` (Properties.loadConvert). */
function unescapeProperty(text: string, line: string, offsets: number[], from: number, to: number): string {
  let out = '';
  let i = from;
  while (i < to) {
    const c = line[i++] as string;
    if (c !== '\\') {
      out += c;
      continue;
    }
    // A lone trailing backslash cannot reach here (line joining removes it); drop it if it does.
    if (i >= to) break;
    const e = line[i++] as string;
    if (e !== 'u') {
      out += PROPS_ESCAPES[e] ?? e;
      continue;
    }
    const hex = line.slice(i, i + 4);
    if (i + 4 > to || !/^[0-9a-fA-F]{4}$/.test(hex)) {
      throw malformedAt('properties', 'malformed \\uxxxx escape', text, offsets[i - 2] ?? 0);
    }
    out += String.fromCharCode(parseInt(hex, 16));
    i += 4;
  }
  return out;
}
