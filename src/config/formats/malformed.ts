/**
 * The one error every format's parser raises: ZKG_CONFIG_MALFORMED with the line and column of
 * the fault. Shared so that a client sees positions counted the same way whatever the format,
 * UTF-8 decoding included.
 */
import { ZkgError } from '../../errors.js';
import { MAX_DOCUMENT_DEPTH } from '../limits.js';
import type { ConfigFormat } from '../formats.js';

/** JSON and YAML refuse deep nesting with the same words. */
export const TOO_DEEP = `nested deeper than ${MAX_DOCUMENT_DEPTH} levels`;

export function malformed(format: ConfigFormat, message: string, line: number, column: number): ZkgError {
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

export function malformedAt(format: ConfigFormat, message: string, text: string, offset: number): ZkgError {
  const { line, column } = lineColumnAt(text, offset);
  return malformed(format, message, line, column);
}
