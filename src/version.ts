import { existsSync, readFileSync } from 'node:fs';

/** zkgate's version, from package.json (one level up from src/, two from dist/src/). */
export const VERSION = ((): string => {
  for (const relative of ['../package.json', '../../package.json']) {
    const url = new URL(relative, import.meta.url);
    if (existsSync(url)) return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  }
  return '0.0.0';
})();
