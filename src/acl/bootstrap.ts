/**
 * The first management token. No secret ships with zkgate: it comes from
 * `ZKGATE_BOOTSTRAP_TOKEN` (or the file `ZKGATE_BOOTSTRAP_TOKEN_FILE` names, a mounted secret),
 * else it is generated and written to `<ZKGATE_DATA_DIR>/bootstrap-token`, readable by the
 * gateway's user only, for the operator to pick up.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Settings } from '../settings.js';
import type { AclService } from './store.js';
import { isSecret, newSecret } from './tokens.js';

export const BOOTSTRAP_FILE = 'bootstrap-token';

export interface BootstrapLogger {
  info(obj: object, msg: string): void;
}

type BootstrapSettings = Pick<Settings, 'bootstrapToken' | 'bootstrapTokenFile' | 'dataDir'>;

async function givenSecret(settings: BootstrapSettings): Promise<string | undefined> {
  if (settings.bootstrapToken !== undefined) return settings.bootstrapToken;
  if (settings.bootstrapTokenFile === undefined) return undefined;
  const secret = (await readFile(settings.bootstrapTokenFile, 'utf8')).trim();
  if (!isSecret(secret)) {
    // The value is a secret: the message names the file, never what it holds.
    throw new Error(
      `${settings.bootstrapTokenFile} does not hold a zkgate secret (zkg_ and 43 base64url characters)`,
    );
  }
  return secret;
}

/**
 * Make the first management token if the ACL tree was never bootstrapped. A generated secret is
 * on disk (under a temporary name, mode 0600) before the token exists, so no crash can leave a
 * management token whose secret nobody has.
 */
export async function bootstrapManagementToken(
  acl: AclService,
  settings: BootstrapSettings,
  logger: BootstrapLogger,
): Promise<void> {
  const given = await givenSecret(settings);
  if (given !== undefined) {
    const token = await acl.bootstrap(given);
    if (token)
      logger.info({ accessor: token.accessor }, 'bootstrap management token created from the given secret');
    return;
  }
  const { secret } = newSecret();
  await mkdir(settings.dataDir, { recursive: true });
  const path = join(settings.dataDir, BOOTSTRAP_FILE);
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  try {
    const token = await acl.bootstrap(secret);
    if (!token) return;
    await rename(temporary, path);
    logger.info(
      { accessor: token.accessor, file: path },
      'bootstrap management token created; its secret is in the file',
    );
  } finally {
    await rm(temporary, { force: true });
  }
}
