/** Without `npm run build`, `/console/` says how to build the console instead of a bare 404. */
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { consoleRoutes } from '../../src/controller/console.js';

it('answers 404 naming the build command when the console is not built', async () => {
  const app = Fastify();
  await app.register(consoleRoutes, { root: '/nonexistent/zkgate-console' });
  const page = await app.inject('/console/');
  expect(page.statusCode).toBe(404);
  expect(page.json<{ message: string }>().message).toMatch(/npm run build/);
  expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  expect((await app.inject('/console')).headers.location).toBe('/console/');
  await app.close();
});
