import { describe, expect, it } from 'vitest';
import { ErrorCode, StoreError } from '../../src/coordination/errors.js';
import { ERRORS, fromStoreError, toZkgError, ZkgError } from '../../src/errors.js';

describe('error catalog', () => {
  it('has stable, prefixed codes with error statuses and titles', () => {
    for (const [code, { status, title }] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^ZKG_[A-Z_]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(title.length).toBeGreaterThan(0);
    }
  });

  it.each([
    [ErrorCode.NO_NODE, 'ZKG_NODE_NOT_FOUND', 404],
    [ErrorCode.NODE_EXISTS, 'ZKG_NODE_EXISTS', 409],
    [ErrorCode.BAD_VERSION, 'ZKG_VERSION_CONFLICT', 409],
    [ErrorCode.NOT_EMPTY, 'ZKG_NODE_NOT_EMPTY', 409],
    [ErrorCode.BAD_ARGUMENTS, 'ZKG_VALIDATION_FAILED', 400],
    [ErrorCode.QUOTA_EXCEEDED, 'ZKG_STORE_QUOTA_EXCEEDED', 507],
    [ErrorCode.CONNECTION_LOSS, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.SESSION_EXPIRED, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.OPERATION_TIMEOUT, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.NO_AUTH, 'ZKG_STORE_REJECTED', 500],
    [-999, 'ZKG_STORE_REJECTED', 500],
  ])('maps ZooKeeper code %i to %s (%i)', (zkCode, code, status) => {
    const error = fromStoreError(new StoreError(zkCode, '/x'));
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.retryAfter).toBe(status === 503 ? 2 : undefined);
  });

  it('keeps catalog errors and hides anything else behind ZKG_INTERNAL', () => {
    const known = new ZkgError('ZKG_NOT_READY', 'warming up');
    expect(toZkgError(known)).toBe(known);
    const unknown = toZkgError(new TypeError('secret internals'));
    expect(unknown.code).toBe('ZKG_INTERNAL');
    expect(unknown.message).not.toContain('secret');
  });
});
