/**
 * `If-None-Match` (RFC 9110 §13.1.2), read one way by every route that answers 304 or creates
 * only what does not exist: `*`, or a list of entity tags, compared weakly (`W/"3-ab"` matches
 * `"3-ab"`), as the RFC asks of this header. An empty member of a list is skipped (§5.6.1).
 */

/** One list member: an entity tag, weak or not, or nothing; then a comma or the end. */
const MEMBER = /[\t ]*(?:(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*"))?[\t ]*(?:,|$)/y;

/**
 * `*`, the opaque tags listed (quotes included, `W/` dropped), or undefined when the header is
 * absent or is not a list of entity tags.
 */
export function parseNoneMatch(header: string | undefined): '*' | string[] | undefined {
  if (header === undefined) return undefined;
  if (header.trim() === '*') return '*';
  const tags: string[] = [];
  MEMBER.lastIndex = 0;
  while (MEMBER.lastIndex < header.length) {
    const member = MEMBER.exec(header);
    if (!member) return undefined;
    if (member[1] !== undefined) tags.push(member[1]);
  }
  return tags;
}

/**
 * Whether `header` matches the current representation, tagged `tag`: `*`, or `tag` listed. A
 * header that is not a list of entity tags matches nothing, so the full answer is sent.
 */
export function noneMatchHits(header: string | undefined, tag: string): boolean {
  const parsed = parseNoneMatch(header);
  return parsed === '*' || (parsed?.includes(tag) ?? false);
}
