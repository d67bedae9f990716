/**
 * The web console at `/console/`: static files built by `npm run build` (scripts/build-console.ts
 * bundles src/controller/ui/ into dist/console/). The page carries no data and is public; every
 * API call it makes carries the operator's token. The Content-Security-Policy lets the page run
 * its own bundle and talk to its own origin, nothing else: no inline script, no CDN.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ZkgError } from '../errors.js';

export const CONSOLE_PREFIX = '/console';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * dist/console under the package root, found from this module's place: src/controller/ when run
 * from source (tests, `npm run dev`), dist/src/controller/ once compiled.
 */
export function consoleDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

export async function consoleRoutes(app: FastifyInstance, options: { root: string }): Promise<void> {
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    return payload;
  });
  // `/console` -> `/console/`, so the page's relative asset URLs resolve under the prefix.
  app.get(CONSOLE_PREFIX, { schema: { hide: true } }, (_request, reply) =>
    reply.redirect(`${CONSOLE_PREFIX}/`, 301),
  );
  if (!existsSync(options.root)) {
    // Run from a checkout without `npm run build` (`npm run dev`, say): say so instead of a bare 404.
    const detail = `the web console is not built: \`npm run build\` builds it into ${options.root}`;
    app.log.warn(detail);
    app.get(`${CONSOLE_PREFIX}/*`, { schema: { hide: true } }, async () => {
      throw new ZkgError('ZKG_ROUTE_NOT_FOUND', detail);
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: options.root,
    prefix: `${CONSOLE_PREFIX}/`,
    decorateReply: false,
    // The build writes .br and .gz next to each file: sent as they are to browsers that take them.
    preCompressed: true,
    // Asset names carry a content hash; the page itself must be fetched anew to find new ones.
    setHeaders: (res, path) => {
      void res.header(
        'cache-control',
        path.endsWith('.html') ? 'no-cache' : 'public, max-age=31536000, immutable',
      );
    },
    cacheControl: false,
  });
}
