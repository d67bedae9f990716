/**
 * Rendezvous hashing: one owner per key, an even spread, and only the departed member's keys
 * move when the group changes.
 */
import { describe, expect, it } from 'vitest';
import { rendezvousOwner } from '../../src/scanner/rendezvous.js';

const keys = Array.from({ length: 6000 }, (_, i) => `orders/instance-${i}`);
const owners = (members: readonly string[]) => new Map(keys.map((k) => [k, rendezvousOwner(k, members)]));

describe('rendezvous hashing', () => {
  const members = ['gw-a-1-0f3c', 'gw-b-7-91aa', 'gw-c-3-5e07'];

  it('has no owner without members and the only member otherwise', () => {
    expect(rendezvousOwner('k', [])).toBeUndefined();
    expect(rendezvousOwner('k', ['solo'])).toBe('solo');
  });

  it('gives every key one owner, the same whatever the order of the members', () => {
    const forward = owners(members);
    const reversed = owners([...members].reverse());
    expect(forward).toEqual(reversed);
    for (const owner of forward.values()) expect(members).toContain(owner);
  });

  it('spreads keys evenly', () => {
    const counts = new Map<string, number>();
    for (const owner of owners(members).values()) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    for (const member of members) {
      // 2000 expected each; a binomial spread stays well within 10%.
      expect(counts.get(member)).toBeGreaterThan(1800);
      expect(counts.get(member)).toBeLessThan(2200);
    }
  });

  it("moves only the departed member's keys, and about a third of them to each newcomer", () => {
    const before = owners(members);
    const after = owners(members.filter((m) => m !== 'gw-b-7-91aa'));
    for (const key of keys) {
      if (before.get(key) !== 'gw-b-7-91aa') expect(after.get(key)).toBe(before.get(key));
      else expect(after.get(key)).not.toBe('gw-b-7-91aa');
    }
    const grown = owners([...members, 'gw-d-9-0000']);
    let moved = 0;
    for (const key of keys) {
      if (grown.get(key) !== before.get(key)) {
        expect(grown.get(key)).toBe('gw-d-9-0000');
        moved++;
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.2);
    expect(moved / keys.length).toBeLessThan(0.3);
  });
});
