/**
 * JSON documents, refused with a position for every fault. JSON.parse does the parsing; what is
 * here exists because V8 does not always say where a fault is, and its message quotes the
 * document, which may hold secrets.
 */
import { MAX_DOCUMENT_DEPTH, jsonNestingFault } from '../limits.js';
import { TOO_DEEP, malformed, malformedAt } from './malformed.js';
import type { ZkgError } from '../../errors.js';

/** V8's position suffix: " in JSON at position N", optionally "(line L column C)" (V8 ≥ 11.x). */
const V8_POSITION = /\s+in JSON at position (\d+)/;
const V8_LINE_COLUMN = /\s*\(line (\d+) column (\d+)\)/;

export function parseJson(text: string): unknown {
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
