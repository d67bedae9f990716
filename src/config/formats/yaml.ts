/**
 * YAML documents, bounded before anything recursive sees them. yaml parses them; what is here
 * keeps a hostile document (deep nesting, an alias explosion, tens of thousands of keys or
 * anchors, each quadratic somewhere inside yaml) from costing more than its bytes.
 */
import {
  Composer,
  Lexer,
  LineCounter,
  Parser,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  type CST,
  type Document,
  type Node as YamlNode,
  type Pair,
} from 'yaml';

import type { ZkgError } from '../../errors.js';
import { MAX_DOCUMENT_DEPTH, MAX_DOCUMENT_VALUES } from '../limits.js';
import { TOO_DEEP, malformed } from './malformed.js';

/**
 * How often an anchor may be aliased, weighed by the aliases inside it (yaml's `maxAliasCount`):
 * enough for real reuse, low enough that a "billion laughs" document fails fast.
 */
const YAML_MAX_ALIAS_COUNT = 100;

/**
 * Anchors, and aliases, a document may hold. `toJS` resolves each alias by scanning every anchor
 * and alias before it, quadratic in their number (40,000 aliases took 26 s); real documents have
 * a handful.
 */
const YAML_MAX_ANCHORS = 1000;

type YamlError = (message: string, offset: number) => ZkgError;

/**
 * A YAML document, bounded at each stage. yaml's Lexer is iterative, but its Parser recurses
 * when one token closes many levels, and its Composer and `toJS` recurse per level: so the CST is
 * built one lexeme at a time and refused as soon as it nests too deep; the composed Document is
 * then measured with its aliases expanded, and only then turned into a value.
 */
export function parseYamlDocument(text: string): unknown {
  const lines = new LineCounter();
  const at: YamlError = (message, offset) => {
    const { line, col } = lines.linePos(offset);
    return malformed('yaml', message, line, col);
  };
  const composer = new Composer({
    // Duplicate keys are almost always a merge mistake and YAML 1.2 forbids them, but yaml
    // compares each key with every earlier one (40,000 keys took 15 s): measureYaml checks them.
    uniqueKeys: false,
    // Otherwise yaml reports some oddities (e.g. collection keys) via process.emitWarning:
    // client input must not write to the server's stderr.
    logLevel: 'error',
  });
  let doc: Document.Parsed | undefined;
  let second: Document.Parsed | undefined;
  for (const composed of composer.compose(boundedYamlTokens(text, lines, at), true, text.length)) {
    if (doc === undefined) doc = composed;
    else {
      second = composed;
      break;
    }
  }
  // compose(…, forceDoc) yields a document for any input, even an empty one.
  if (doc === undefined) return null;
  const first = doc.errors[0];
  if (first) throw at(first.message, first.pos[0]);
  // YAML 1.2 §6.8.1: a document of a later major version is refused (yaml only warns); a later
  // minor version is read as 1.2.
  for (const warning of doc.warnings) {
    const major = /^Unsupported YAML version (\d+)\./.exec(warning.message)?.[1];
    if (major !== undefined && Number(major) > 1) {
      throw at(`YAML version ${major}.x is not supported (this is a YAML 1.2 parser)`, warning.pos[0]);
    }
  }
  // A namespace holds exactly one document.
  if (second) throw at('Source contains multiple documents', second.range[0]);
  const { firstAlias } = measureYaml(doc, at);
  try {
    return doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
  } catch (err) {
    // What is left for toJS to refuse (an alias count over the limit, a merge of a non-map)
    // comes without a position: point at the first alias.
    throw at(err instanceof Error ? err.message : String(err), Math.max(firstAlias, 0));
  }
}

/** yaml's Parser, fed one lexeme at a time, refusing a CST nested deeper than the limit. */
function* boundedYamlTokens(text: string, lines: LineCounter, at: YamlError): Generator<CST.Token> {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    yield* parser.next(lexeme);
    // The stack holds the open collections plus the document and a scalar: count only when it
    // may matter. A lexeme opens at most one level, so the Parser never recurses deeper.
    if (parser.stack.length <= MAX_DOCUMENT_DEPTH) continue;
    const open = parser.stack.filter(
      (t) => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection',
    );
    const deepest = open[MAX_DOCUMENT_DEPTH];
    if (deepest) throw at(TOO_DEEP, deepest.offset);
  }
  yield* parser.end();
}

interface Extent {
  /** Values (scalars, keys, collections) once aliases are expanded. */
  readonly values: number;
  /** Levels of collections, `[[1]]` being 2. */
  readonly depth: number;
}

const LEAF: Extent = { values: 1, depth: 0 };
const NOTHING: Extent = { values: 0, depth: 0 };

/**
 * Check a composed document as validation will walk it, aliases expanded, before `toJS` builds
 * it (merge keys copy their source, so toJS itself can be the explosion): at most
 * MAX_DOCUMENT_VALUES values and MAX_DOCUMENT_DEPTH levels, YAML_MAX_ANCHORS anchors and
 * aliases, unique scalar keys, no alias inside its own anchor (a cycle, which has no JSON value),
 * no alias before its anchor. One pass in document order, the order in which yaml resolves an
 * alias to the latest anchor of its name; an anchored node is measured once however often it
 * is aliased. Recursion follows the document's own nesting, which the parser bounded.
 *
 * @returns the offset of the first alias, -1 if there is none.
 */
function measureYaml(doc: Document.Parsed, at: YamlError): { firstAlias: number } {
  const anchors = new Map<string, YamlNode>();
  // Anchored nodes once measured; an anchored node not in here yet encloses the current one.
  const measured = new Map<YamlNode, Extent>();
  let anchorCount = 0;
  let aliasCount = 0;
  let firstAlias = -1;

  const startOf = (item: unknown): number =>
    isPair(item) ? startOf(item.key ?? item.value) : ((item as YamlNode | null)?.range?.[0] ?? 0);

  const uniqueKeys = (pairs: readonly Pair[]): void => {
    const seen = new Set<unknown>();
    for (const { key } of pairs) {
      // yaml's rule: scalar keys are equal when their values are (===, so never NaN); merge keys
      // (`<<`) resolve to distinct symbols; collection and alias keys are never equal.
      if (!isScalar(key) || Number.isNaN(key.value)) continue;
      if (seen.has(key.value)) throw at('Map keys must be unique', startOf(key));
      seen.add(key.value);
    }
  };

  /** `level`: collections enclosing `item`. */
  const measure = (item: unknown, level: number): Extent => {
    if (isPair(item)) {
      const key = measure(item.key, level);
      const value = measure(item.value, level);
      return { values: key.values + value.values, depth: Math.max(key.depth, value.depth) };
    }
    if (isAlias(item)) {
      const offset = startOf(item);
      if (++aliasCount > YAML_MAX_ANCHORS) throw at(`more than ${YAML_MAX_ANCHORS} aliases`, offset);
      if (firstAlias < 0) firstAlias = offset;
      const anchored = anchors.get(item.source);
      if (anchored === undefined) {
        throw at(`Unresolved alias (the anchor must be set before the alias): ${item.source}`, offset);
      }
      const extent = measured.get(anchored);
      if (extent === undefined) throw at(`Alias *${item.source} is inside its own anchor (a cycle)`, offset);
      if (level + extent.depth > MAX_DOCUMENT_DEPTH)
        throw at(`${TOO_DEEP} once aliases are expanded`, offset);
      return extent;
    }
    if (!isScalar(item) && !isCollection(item)) return NOTHING;
    if (item.anchor) {
      if (++anchorCount > YAML_MAX_ANCHORS) throw at(`more than ${YAML_MAX_ANCHORS} anchors`, startOf(item));
      anchors.set(item.anchor, item);
    }
    let extent = LEAF;
    if (isCollection(item)) {
      if (isMap(item)) uniqueKeys(item.items as Pair[]);
      let values = 1;
      let depth = 1;
      for (const child of item.items) {
        const inner = measure(child, level + 1);
        values += inner.values;
        if (values > MAX_DOCUMENT_VALUES) {
          throw at(`more than ${MAX_DOCUMENT_VALUES} values once aliases are expanded`, startOf(child));
        }
        depth = Math.max(depth, inner.depth + 1);
      }
      if (level + depth > MAX_DOCUMENT_DEPTH) throw at(TOO_DEEP, startOf(item));
      extent = { values, depth };
    }
    if (item.anchor) measured.set(item, extent);
    return extent;
  };

  measure(doc.contents, 0);
  return { firstAlias };
}
