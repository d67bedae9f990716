import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MultiError, StoreError } from '../../src/coordination/errors.js';
import { ERRORS, fromStoreError, toZkgError, ZkgError } from '../../src/errors.js';

const ROOT = new URL('../../', import.meta.url);

describe('error catalog', () => {
  it('has stable, prefixed codes with error statuses and titles', () => {
    for (const [code, { status, title }] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^ZKG_[A-Z_]+$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(title.length).toBeGreaterThan(0);
    }
  });

  it('holds only codes the gateway can return: each is named as a value somewhere in src/', async () => {
    const dir = new URL('src/', ROOT);
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
    const source = (await Promise.all(files.map((f) => readFile(new URL(f, dir), 'utf8')))).join('\n');
    // Keys of the catalog are bare words; a code is returned where it is written as a string.
    const unused = Object.keys(ERRORS).filter((code) => !source.includes(`'${code}'`));
    expect(unused, 'codes nothing returns: remove them (and say so in the CHANGELOG)').toEqual([]);
  });

  it('is what the README and the deployment guide name', async () => {
    for (const doc of ['README.md', 'docs/deploy.md']) {
      const text = await readFile(new URL(doc, ROOT), 'utf8');
      const named = [...new Set(text.match(/ZKG_[A-Z_]+/g) ?? [])];
      expect(
        named.filter((code) => !(code in ERRORS)),
        doc,
      ).toEqual([]);
    }
  });

  it.each([
    [ErrorCode.CONNECTION_LOSS, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.SESSION_EXPIRED, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.OPERATION_TIMEOUT, 'ZKG_STORE_UNAVAILABLE', 503],
    [ErrorCode.NO_AUTH, 'ZKG_STORE_REJECTED', 500],
    [ErrorCode.AUTH_FAILED, 'ZKG_STORE_REJECTED', 500],
    [ErrorCode.QUOTA_EXCEEDED, 'ZKG_STORE_QUOTA_EXCEEDED', 507],
    [ErrorCode.BAD_ARGUMENTS, 'ZKG_VALIDATION_FAILED', 400],
    // Conflicts are the slices' to retry or state in their terms: one reaching a client is a bug.
    [ErrorCode.NO_NODE, 'ZKG_INTERNAL', 500],
    [ErrorCode.NODE_EXISTS, 'ZKG_INTERNAL', 500],
    [ErrorCode.BAD_VERSION, 'ZKG_INTERNAL', 500],
    [ErrorCode.NOT_EMPTY, 'ZKG_INTERNAL', 500],
    [-999, 'ZKG_INTERNAL', 500],
  ])('maps ZooKeeper code %i to %s (%i), naming the resource and no znode', (zkCode, code, status) => {
    for (const err of [
      new StoreError(zkCode, '/zkgate/config/team/app'),
      new MultiError(1, [0, zkCode], '/zkgate/config/team/app'),
    ]) {
      const error = fromStoreError(err, 'namespace team/app');
      expect(error.code).toBe(code);
      expect(error.status).toBe(status);
      expect(error.retryAfter).toBe(status === 503 ? 2 : undefined);
      expect(error.message).toContain('namespace team/app');
      expect(error.message).not.toContain('/zkgate');
      expect(error.cause).toBe(err);
      // Past every slice, about the request.
      expect(toZkgError(err).message).not.toContain('/zkgate');
    }
  });

  it("says the gateway's ZooKeeper identity lacks access when an ACL refuses it", () => {
    const error = fromStoreError(new StoreError(ErrorCode.NO_AUTH, '/zkgate/acl/tokens'), 'token abc');
    expect(error.message).toMatch(/refuses the gateway's identity access to token abc: .*ZKGATE_ZK_AUTH/);
  });

  it('keeps catalog errors and hides anything else behind ZKG_INTERNAL', () => {
    const known = new ZkgError('ZKG_NOT_READY', 'warming up');
    expect(toZkgError(known)).toBe(known);
    const unknown = toZkgError(new TypeError('secret internals'));
    expect(unknown.code).toBe('ZKG_INTERNAL');
    expect(unknown.message).not.toContain('secret');
  });
});
