import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Authority,
  MANAGEMENT,
  PERMISSIONS,
  READ_ONLY,
  type Grant,
  type Permission,
  type Policy,
} from '../../src/acl/policy.js';

const policy = (rules: Policy['rules']): Policy => ({ name: 'p', rules });

describe('policy decisions', () => {
  it('denies everything without a rule (default deny)', () => {
    const none = new Authority([]);
    for (const permission of PERMISSIONS) {
      expect(none.decide({ kind: 'config', name: 'a' }, permission).allowed).toBe(false);
      expect(none.decide({ kind: 'operator' }, permission).allowed).toBe(false);
    }
  });

  it('lets the longest matching prefix decide, in both directions', () => {
    const authority = new Authority([
      policy({ config: { 'team-a/': ['read', 'write'], 'team-a/secrets/': 'deny', '': ['read'] } }),
    ]);
    const on = (name: string, permission: Permission) =>
      authority.decide({ kind: 'config', name }, permission);
    expect(on('team-a/app', 'write')).toEqual({ allowed: true, prefix: 'team-a/' });
    expect(on('team-a/secrets/db', 'read')).toEqual({ allowed: false, prefix: 'team-a/secrets/' });
    expect(on('team-b/app', 'read')).toEqual({ allowed: true, prefix: '' });
    expect(on('team-b/app', 'write').allowed).toBe(false);
    // The more specific rule decides alone: it does not inherit the broader rule's grants.
    const narrower = new Authority([policy({ config: { '': ['write'], 'x/': ['read'] } })]);
    expect(narrower.decide({ kind: 'config', name: 'x/y' }, 'write').allowed).toBe(false);
  });

  it('pools policies, and a deny at the deciding prefix beats a grant there', () => {
    const authority = new Authority([
      policy({ service: { orders: ['read', 'write'] } }),
      policy({ service: { orders: 'deny', '': ['read'] } }),
    ]);
    expect(authority.decide({ kind: 'service', name: 'orders' }, 'read').allowed).toBe(false);
    expect(authority.decide({ kind: 'service', name: 'payments' }, 'read').allowed).toBe(true);
  });

  it('ships management with everything and read-only with reads', () => {
    const management = new Authority([MANAGEMENT]);
    const readOnly = new Authority([READ_ONLY]);
    for (const permission of PERMISSIONS) {
      expect(management.decide({ kind: 'acl' }, permission).allowed).toBe(true);
      expect(readOnly.decide({ kind: 'config', name: 'x' }, permission).allowed).toBe(permission === 'read');
    }
    expect(readOnly.decide({ kind: 'acl' }, 'read').allowed).toBe(false);
  });

  it('opens a prefix watch when some of what it covers is readable', () => {
    const authority = new Authority([policy({ config: { 'team-a/': ['read'] } })]);
    expect(authority.mayAnyUnder('config', '', 'read')).toBe(true);
    expect(authority.mayAnyUnder('config', 'team-a/x', 'read')).toBe(true);
    expect(authority.mayAnyUnder('config', 'team-b/', 'read')).toBe(false);
  });

  const grant = fc.oneof(
    fc.constant<Grant>('deny'),
    fc.subarray([...PERMISSIONS]).map((g): Grant => g),
  );
  const prefix = fc.constantFrom('', 'a', 'a/', 'a/b', 'b/');
  const rules = fc.dictionary(prefix, grant, { maxKeys: 4 });

  it('never grants more for a deny added anywhere (property)', () => {
    fc.assert(
      fc.property(
        rules,
        prefix,
        fc.constantFrom('a/b/c', 'a/x', 'b/y', 'c'),
        fc.constantFrom(...PERMISSIONS),
        (config, denied, name, permission) => {
          const before = new Authority([policy({ config })]).decide({ kind: 'config', name }, permission);
          const after = new Authority([policy({ config }), policy({ config: { [denied]: 'deny' } })]).decide(
            { kind: 'config', name },
            permission,
          );
          expect(!after.allowed || before.allowed).toBe(true);
        },
      ),
    );
  });

  it('decides as a brute-force reading of the rules does (property)', () => {
    fc.assert(
      fc.property(
        fc.array(rules, { maxLength: 3 }),
        fc.constantFrom('a/b/c', 'a/x', 'b/y', 'c', ''),
        fc.constantFrom(...PERMISSIONS),
        (policies, name, permission) => {
          const decision = new Authority(policies.map((config) => policy({ config }))).decide(
            { kind: 'config', name },
            permission,
          );
          const matching = policies
            .flatMap((config) => Object.entries(config))
            .filter(([p]) => name.startsWith(p));
          const longest = Math.max(-1, ...matching.map(([p]) => p.length));
          const deciding = matching.filter(([p]) => p.length === longest).map(([, g]) => g);
          const expected =
            deciding.length > 0 &&
            !deciding.includes('deny') &&
            deciding.some((g) => g !== 'deny' && g.includes(permission));
          expect(decision.allowed).toBe(expected);
        },
      ),
    );
  });
});
