/**
 * A gateway replica inside the test process, listening on a loopback port: the services of
 * `npm start` and its HTTP app, built from the given environment.
 */
import { pino } from 'pino';
import { buildApp } from '../../src/app.js';
import { createServices, type Services } from '../../src/compose.js';
import { loadSettings } from '../../src/settings.js';
import { BOOTSTRAP_ENV } from './tokens.js';

export interface InProcessGateway {
  /** `http://127.0.0.1:port` */
  readonly url: string;
  readonly services: Services;
  close(): Promise<void>;
}

export async function startInProcessGateway(env: Record<string, string>): Promise<InProcessGateway> {
  const logger = pino({ level: 'silent' });
  const services = await createServices(loadSettings({ ...BOOTSTRAP_ENV, ...env }), logger);
  const app = await buildApp({ services, logger });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    services,
    async close() {
      await app.close();
      await services.close();
    },
  };
}
