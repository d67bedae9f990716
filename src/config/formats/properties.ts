/**
 * Java `.properties` documents, read exactly as `java.util.Properties.load` reads them: the
 * services these documents are for load them that way, so the keys the gateway validates must be
 * the keys they will see.
 */
import { malformedAt } from './malformed.js';

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
export function parseProperties(text: string, start: number): Record<string, string> {
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
