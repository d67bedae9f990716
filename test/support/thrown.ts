import { expect } from 'vitest';
import { ZkgError } from '../../src/errors.js';

/** The error `fn` throws, asserted to be a ZkgError. */
export function thrown(fn: () => unknown): ZkgError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ZkgError);
    return err as ZkgError;
  }
  throw new Error('expected a ZkgError, nothing was thrown');
}
