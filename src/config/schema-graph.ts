/**
 * The graph of a JSON Schema: which subschemas validation may apply, references followed, and
 * whether they loop. Validation follows `$ref` by calling the referenced schema's validator: a
 * chain of references that comes back to where it started without moving to a child of the
 * instance (`{"$ref": "#"}`, or `a` → `allOf` → `b` → `a`) recurses until the stack overflows,
 * on every instance. A cycle that passes through `properties`, `items` and the like is ordinary
 * recursion, a tree schema: each turn descends one level into the instance, whose nesting is
 * bounded, so it ends.
 *
 * References are resolved within the schema as ajv resolves them: against the base URI that
 * nested `$id`s set, to the schema itself (`#`), a JSON pointer (`#/$defs/a`) or an anchor
 * (`$anchor`, `$dynamicAnchor`, or a draft-07 `$id: "#name"`). A `$dynamicRef` or `$recursiveRef`
 * may be redirected at run time, so it counts as leading to every matching dynamic anchor too.
 * A reference that leads outside the schema (a draft meta-schema ajv holds) has no edge here.
 */

export type SchemaObject = Record<string, unknown>;

/** How a keyword applies its subschemas. */
type Application = 'same' | 'descends' | 'definitions';

/**
 * Keywords whose values hold subschemas: applied to the same instance location, applied to
 * children of the instance (or its property names), or only definitions that references name.
 * A keyword not listed (`const`, `default`, `contentSchema`, which ajv does not apply, unknown
 * ones) holds no schema unless a reference points into it.
 */
const SUBSCHEMA_KEYWORDS: ReadonlyMap<string, Application> = new Map<string, Application>([
  ['allOf', 'same'],
  ['anyOf', 'same'],
  ['oneOf', 'same'],
  ['not', 'same'],
  ['if', 'same'],
  ['then', 'same'],
  ['else', 'same'],
  ['dependentSchemas', 'same'],
  // Draft-07 `dependencies`, which ajv still applies: schema values are dependent schemas.
  ['dependencies', 'same'],
  ['properties', 'descends'],
  ['patternProperties', 'descends'],
  ['additionalProperties', 'descends'],
  ['unevaluatedProperties', 'descends'],
  ['propertyNames', 'descends'],
  ['items', 'descends'],
  ['prefixItems', 'descends'],
  ['additionalItems', 'descends'],
  ['unevaluatedItems', 'descends'],
  ['contains', 'descends'],
  ['$defs', 'definitions'],
  ['definitions', 'definitions'],
]);

/** Keywords whose values are maps from names to subschemas (the others hold one or a list). */
const MAP_KEYWORDS: ReadonlySet<string> = new Set([
  'dependentSchemas',
  'dependencies',
  'properties',
  'patternProperties',
  '$defs',
  'definitions',
]);

/** Base of the root resource: ajv gives the root (whose `$id` zkgate drops) an empty base. */
const ROOT_BASE = 'zkgate://schema/';

interface Located {
  readonly schema: SchemaObject;
  /** Base URI, without fragment, that references inside this schema resolve against. */
  readonly base: string;
  /** JSON pointer from the root of the whole schema. */
  readonly pointer: string;
}

const isSchemaObject = (value: unknown): value is SchemaObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const escapePointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');
const unescapePointer = (segment: string): string => segment.replace(/~1/g, '/').replace(/~0/g, '~');

/** The subschemas a schema object applies or defines, with their keyword's application. */
function* subschemas(
  schema: SchemaObject,
): Generator<{ application: Application; value: SchemaObject; segments: string[] }> {
  for (const [keyword, value] of Object.entries(schema)) {
    const application = SUBSCHEMA_KEYWORDS.get(keyword);
    if (application === undefined) continue;
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) {
        if (isSchemaObject(item)) yield { application, value: item, segments: [keyword, String(i)] };
      }
    } else if (MAP_KEYWORDS.has(keyword)) {
      if (!isSchemaObject(value)) continue;
      for (const [name, item] of Object.entries(value)) {
        if (isSchemaObject(item)) yield { application, value: item, segments: [keyword, name] };
      }
    } else if (isSchemaObject(value)) {
      yield { application, value, segments: [keyword] };
    }
  }
}

function withoutFragment(uri: string): string {
  const hash = uri.indexOf('#');
  return hash < 0 ? uri : uri.slice(0, hash);
}

/** `reference` resolved against `base`, or undefined when it is not a URI reference. */
function resolveUri(reference: string, base: string): URL | undefined {
  try {
    return new URL(reference, base);
  } catch {
    return undefined;
  }
}

/** The references of one schema, resolved, found by indexing it once. */
class SchemaIndex {
  /** Resources (the root and every nested `$id`) by base URI. */
  private readonly resources = new Map<string, Located>();
  /** Anchors by `<base>#<name>`. */
  private readonly anchors = new Map<string, Located>();
  /** `$dynamicAnchor`s by name, where a `$dynamicRef` may be redirected. */
  private readonly dynamicAnchors = new Map<string, Located[]>();
  /** Resources with `$recursiveAnchor: true`, where a `$recursiveRef` may be redirected. */
  private readonly recursiveAnchors: Located[] = [];
  private readonly located = new Map<SchemaObject, Located>();

  readonly root: Located;

  constructor(root: SchemaObject) {
    this.root = this.locate(root, ROOT_BASE, '');
    const pending: Located[] = [this.root];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      this.register(next);
      for (const { value, segments } of subschemas(next.schema)) {
        pending.push(this.locate(value, next.base, this.pointerOf(next, segments)));
      }
    }
  }

  /** Schemas applied to the same instance location as `at`, references included. */
  sameInstance(at: Located): Located[] {
    const next: Located[] = [];
    for (const { application, value, segments } of subschemas(at.schema)) {
      if (application === 'same') next.push(this.locate(value, at.base, this.pointerOf(at, segments)));
    }
    for (const keyword of ['$ref', '$dynamicRef', '$recursiveRef']) {
      const reference = at.schema[keyword];
      if (typeof reference === 'string') next.push(...this.resolve(keyword, reference, at.base));
    }
    return next;
  }

  /** Schemas applied to children of the instance at `at`. */
  descending(at: Located): Located[] {
    const next: Located[] = [];
    for (const { application, value, segments } of subschemas(at.schema)) {
      if (application === 'descends') next.push(this.locate(value, at.base, this.pointerOf(at, segments)));
    }
    return next;
  }

  private pointerOf(at: Located, segments: readonly string[]): string {
    return at.pointer + segments.map((s) => `/${escapePointer(s)}`).join('');
  }

  /** The located form of a schema object, its base moved by its own `$id`; the first one wins. */
  private locate(schema: SchemaObject, parentBase: string, pointer: string): Located {
    const known = this.located.get(schema);
    if (known) return known;
    const id = schema['$id'];
    const moved = typeof id === 'string' && !id.startsWith('#') ? resolveUri(id, parentBase) : undefined;
    const base = moved ? withoutFragment(moved.href) : parentBase;
    const located: Located = { schema, base, pointer };
    this.located.set(schema, located);
    return located;
  }

  private register(at: Located): void {
    const { schema, base } = at;
    const id = schema['$id'];
    if (at === this.root || (typeof id === 'string' && !id.startsWith('#'))) this.resources.set(base, at);
    if (typeof id === 'string' && id.startsWith('#') && id.length > 1) this.anchors.set(base + id, at);
    const anchor = schema['$anchor'];
    if (typeof anchor === 'string') this.anchors.set(`${base}#${anchor}`, at);
    const dynamic = schema['$dynamicAnchor'];
    if (typeof dynamic === 'string') {
      this.anchors.set(`${base}#${dynamic}`, at);
      this.dynamicAnchors.set(dynamic, [...(this.dynamicAnchors.get(dynamic) ?? []), at]);
    }
    if (schema['$recursiveAnchor'] === true) this.recursiveAnchors.push(at);
  }

  private resolve(keyword: string, reference: string, base: string): Located[] {
    const uri = resolveUri(reference, base);
    if (!uri) return [];
    let fragment: string;
    try {
      fragment = decodeURIComponent(uri.hash.slice(1));
    } catch {
      return [];
    }
    const resource = this.resources.get(withoutFragment(uri.href));
    const targets: Located[] = [];
    const target = resource && this.within(resource, fragment);
    if (target) targets.push(target);
    if (keyword === '$dynamicRef' && fragment !== '' && !fragment.startsWith('/')) {
      targets.push(...(this.dynamicAnchors.get(fragment) ?? []));
    }
    if (keyword === '$recursiveRef') targets.push(...this.recursiveAnchors);
    return targets;
  }

  /** The schema a fragment names in a resource: itself, a JSON pointer into it, or an anchor. */
  private within(resource: Located, fragment: string): Located | undefined {
    if (fragment === '') return resource;
    if (!fragment.startsWith('/')) return this.anchors.get(`${resource.base}#${fragment}`);
    let value: unknown = resource.schema;
    for (const segment of fragment.slice(1).split('/').map(unescapePointer)) {
      if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return undefined;
      value = (value as Record<string, unknown>)[segment];
    }
    // A pointer may lead anywhere, even into `const`: ajv compiles whatever it finds there.
    return isSchemaObject(value) ? this.locate(value, resource.base, resource.pointer + fragment) : undefined;
  }
}

/** What validation against a schema can reach. */
export interface SchemaGraph {
  /** Every schema object validation may apply: the root, its subschemas, reference targets. */
  readonly applied: readonly SchemaObject[];
  /**
   * A cycle of schemas applied to the same instance location, as JSON pointers
   * (`["#", "#/$defs/a", "#"]`), or undefined when there is none.
   */
  readonly sameInstanceCycle: readonly string[] | undefined;
}

/** The graph of a schema (whose root `$id`, if any, is ignored). Linear in its size, iterative. */
export function schemaGraph(root: SchemaObject): SchemaGraph {
  const index = new SchemaIndex(root);
  const same = new Map<Located, Located[]>();
  const reachable: Located[] = [index.root];
  const seen = new Set<Located>(reachable);
  for (let i = 0; i < reachable.length; i++) {
    const at = reachable[i] as Located;
    const next = index.sameInstance(at);
    same.set(at, next);
    for (const child of [...next, ...index.descending(at)]) {
      if (!seen.has(child)) {
        seen.add(child);
        reachable.push(child);
      }
    }
  }
  return { applied: reachable.map((at) => at.schema), sameInstanceCycle: findCycle(reachable, same) };
}

/** Depth-first over same-instance edges only: an edge back to a schema on the path closes a cycle. */
function findCycle(
  reachable: readonly Located[],
  same: ReadonlyMap<Located, Located[]>,
): string[] | undefined {
  const done = new Set<Located>();
  for (const start of reachable) {
    if (done.has(start)) continue;
    const path: Array<{ at: Located; next: Located[]; i: number }> = [
      { at: start, next: same.get(start) ?? [], i: 0 },
    ];
    const onPath = new Set<Located>([start]);
    while (path.length > 0) {
      const top = path[path.length - 1] as (typeof path)[number];
      const child = top.next[top.i++];
      if (child === undefined) {
        path.pop();
        onPath.delete(top.at);
        done.add(top.at);
        continue;
      }
      if (onPath.has(child)) {
        const from = path.findIndex((step) => step.at === child);
        return [...path.slice(from).map((step) => step.at), child].map((at) => `#${at.pointer}`);
      }
      if (done.has(child)) continue;
      onPath.add(child);
      path.push({ at: child, next: same.get(child) ?? [], i: 0 });
    }
  }
  return undefined;
}
