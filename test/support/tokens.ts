/**
 * The operator's token of test gateways: every gateway a test starts bootstraps its management
 * token from this secret (random per test process, like a real deployment's), so tests that are
 * not about access control act as the operator, and tests that are make narrower tokens with it.
 */
import { newSecret } from '../../src/acl/tokens.js';

export const MANAGEMENT_SECRET = newSecret().secret;

/** The header of requests made as the operator. */
export const MANAGEMENT = { authorization: `Bearer ${MANAGEMENT_SECRET}` } as const;

/**
 * Environment of a test gateway: its bootstrap token is {@link MANAGEMENT_SECRET}, and its rate
 * limit is far above what any test sends in a second as the operator (so the limiter runs on
 * every request without tripping; test/acl/rate-limit.test.ts trips it on purpose).
 */
export const BOOTSTRAP_ENV = {
  ZKGATE_BOOTSTRAP_TOKEN: MANAGEMENT_SECRET,
  ZKGATE_RATE_LIMIT: '1000000',
} as const;
