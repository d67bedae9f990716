/**
 * Rendezvous (highest-random-weight) hashing: which gateway replica checks which instance. Every
 * replica computes the same owner from the same member list with no coordination, each instance
 * has exactly one owner, and when a member leaves only its own instances move (spread over the
 * others), while a member joining takes about 1/n from each.
 */
import { murmur3 } from '../dispatcher/details/murmur3.js';

/** The member that owns `key`: the highest score, ties to the smaller name. Undefined when there are none. */
export function rendezvousOwner(key: string, members: readonly string[]): string | undefined {
  let owner: string | undefined;
  let best = -1;
  for (const member of members) {
    // The member's own hash seeds the key's: scores of different members are independent.
    const score = murmur3(key, murmur3(member));
    if (score > best || (score === best && owner !== undefined && member < owner)) {
      best = score;
      owner = member;
    }
  }
  return owner;
}
