/**
 * The process logger's options. Secrets never reach a log line: a bearer token in any logged
 * headers object is censored, whoever logs it (fastify's serializers, a plugin, a debug line).
 */
import type { LoggerOptions } from 'pino';
import type { Settings } from './settings.js';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'request.headers.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'authorization',
];

export function loggerOptions(settings: Pick<Settings, 'logLevel'>): LoggerOptions {
  return {
    level: settings.logLevel,
    base: { service: 'zkgate' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
}
