/** The loader hook of module-log.mjs; it runs on the loader's thread. */
import { appendFileSync } from 'node:fs';
import { env } from 'node:process';

const log = env['ZKGATE_TEST_MODULE_LOG'];

export async function load(url, context, nextLoad) {
  if (log) appendFileSync(log, `${url}\n`);
  return nextLoad(url, context);
}
