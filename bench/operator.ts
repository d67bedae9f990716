/**
 * Benchmarks act as the operator: every gateway they start bootstraps the management token of
 * test/support/tokens.ts (a secret of this process, passed to the gateway's), and every request
 * they send it carries that token. The gateways' rate limit is set above any load a benchmark
 * offers: the limiter still counts each request (its cost is part of what is measured) and
 * refuses none.
 */
import { BOOTSTRAP_ENV, MANAGEMENT } from '../test/support/tokens.js';

/** The header of every request a benchmark sends a gateway. */
export { MANAGEMENT };

/** The environment of every gateway a benchmark starts, on top of its own settings. */
export const OPERATOR_ENV: Readonly<Record<string, string>> = {
  ...BOOTSTRAP_ENV,
  ZKGATE_RATE_LIMIT: '10000000',
};
