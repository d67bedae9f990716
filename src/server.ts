/**
 * The process: settings, logger, services, HTTP listener, and a graceful shutdown on SIGTERM or
 * SIGINT (fail readiness, stop accepting, drain in-flight requests, close the store session,
 * exit 0; exit 1 if that takes longer than ZKGATE_SHUTDOWN_TIMEOUT_MS).
 */
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { buildApp } from './app.js';
import { createServices } from './compose.js';
import { HotStoreMismatch } from './hotstore/agreement.js';
import { loggerOptions } from './logging.js';
import { loadSettings, SettingsError } from './settings.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = loadSettings();
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  const logger = pino(loggerOptions(settings));
  const services = await createServices(settings, logger);
  const app = await buildApp({ services, logger });

  closeWithGrace({ delay: settings.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    services.beginShutdown();
    await app.close();
    await services.close();
  });

  try {
    await app.listen({ port: settings.port, host: settings.host });
  } catch (err) {
    // A port in use, say: end the store session and release the data directory before exiting.
    await app.close();
    await services.close();
    throw err;
  }
  logger.info(
    { store: services.store.kind, zk: settings.zk ?? null, dataDir: settings.zk ? null : settings.dataDir },
    'zkgate ready',
  );
}

main().catch((err: unknown) => {
  console.error('zkgate failed to start:', err instanceof Error ? err.message : err);
  // A deployment mistake, like a bad setting: restarting will not fix it.
  process.exit(err instanceof HotStoreMismatch ? 2 : 1);
});
