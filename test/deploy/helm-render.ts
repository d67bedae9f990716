/**
 * Renders the zkgate chart's templates the way `helm template` does, for the subset of Go's
 * text/template and Helm's functions the chart uses, so the chart can be checked where Helm
 * cannot be installed.
 *
 * Faithful, not permissive: anything outside the subset throws instead of rendering something
 * Helm would render differently. The subset:
 * - text with `{{- ` / ` -}}` whitespace trimming and `{{/* comments *\/}}`;
 * - `{{ pipeline }}`, `{{ $x := pipeline }}` (in scope until the `end` of its block, like Go),
 *   `{{ if }}` / `{{ else if }}` / `{{ else }}` / `{{ end }}`,
 *   `{{ range [$v :=|$k, $v :=] pipeline }}` over lists and maps (keys sorted, like Go);
 * - operands: `.`, `.a.b`, `$`, `$x.a.b`, "strings", integers, true, false, `( pipeline )`;
 * - functions: Go's `eq`, `not` and `printf` (`%s` of strings only); sprig's `int`, `add`,
 *   `until`, `quote`, `dict`, `dig`, `b64enc` and `randAlphaNum` (crypto-random, as sprig's);
 *   Helm's `lookup`, which finds nothing unless the caller passes live objects: `helm template`
 *   and a client-side `--dry-run` render with no cluster, and `lookup` answers an empty map there.
 *
 * Values keep Go's types: a JS number is a float64 (every number in Helm's values is one, as
 * they pass through JSON), a bigint is an int (what `int`, `add` and `until` return). They print
 * as Go's `%v` does, so `1000000` from values prints `1e+06`, as it does in Helm.
 */

import { randomInt } from 'node:crypto';

type GoValue = string | number | bigint | boolean | null | GoValue[] | { [key: string]: GoValue };

type Operand =
  | { kind: 'field'; base: string; path: string[] }
  | { kind: 'literal'; value: GoValue }
  | { kind: 'pipeline'; pipeline: Pipeline };
type Command = { fn: string; args: Operand[] } | { fn: undefined; operand: Operand };
type Pipeline = Command[];
type Node =
  | { kind: 'text'; text: string }
  | { kind: 'output'; pipeline: Pipeline }
  | { kind: 'declare'; name: string; pipeline: Pipeline }
  | { kind: 'if'; branches: { cond: Pipeline; body: Node[] }[]; otherwise: Node[] }
  | { kind: 'range'; vars: string[]; over: Pipeline; body: Node[] };

/** A template the renderer rejects, or one that fails while rendering. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

type Part = { kind: 'text'; text: string } | { kind: 'action'; body: string };

/** Splits a template into text and actions, applying the trim markers to the neighbouring text. */
function lex(source: string): Part[] {
  const parts: Part[] = [];
  const action = /\{\{(-[ \t\r\n])?([\s\S]*?)([ \t\r\n]-)?\}\}/g;
  let last = 0;
  let trimNext = false;
  for (let match = action.exec(source); match; match = action.exec(source)) {
    let text = source.slice(last, match.index);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (match[1] !== undefined) text = text.replace(/[ \t\r\n]+$/, '');
    if (text) parts.push({ kind: 'text', text });
    const body = (match[2] ?? '').trim();
    if (!(body.startsWith('/*') && body.endsWith('*/'))) parts.push({ kind: 'action', body });
    trimNext = match[3] !== undefined;
    last = action.lastIndex;
  }
  let tail = source.slice(last);
  if (trimNext) tail = tail.replace(/^[ \t\r\n]+/, '');
  if (tail.includes('{{'))
    throw new TemplateError(`unterminated action near ${JSON.stringify(tail.slice(0, 40))}`);
  if (tail) parts.push({ kind: 'text', text: tail });
  return parts;
}

const TOKEN =
  /\s*(?:(\()|(\))|(\|)|(:=)|(,)|("(?:[^"\\]|\\.)*")|(-?\d+)(?![\w.])|(\$\w*(?:\.\w+)*)|(\.(?:\w+(?:\.\w+)*)?)|([A-Za-z_]\w*))/y;

type Token =
  | { t: '(' | ')' | '|' | ':=' | ',' }
  | { t: 'string'; v: string }
  | { t: 'int'; v: bigint }
  | { t: 'var'; v: string }
  | { t: 'field'; v: string }
  | { t: 'ident'; v: string };

function tokenize(body: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < body.length) {
    if (/^\s*$/.test(body.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(body);
    if (!m)
      throw new TemplateError(`unsupported syntax at ${JSON.stringify(body.slice(at))} in {{ ${body} }}`);
    if (m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5])
      tokens.push({ t: (m[1] ?? m[2] ?? m[3] ?? m[4] ?? m[5]) as '(' });
    else if (m[6] !== undefined) tokens.push({ t: 'string', v: JSON.parse(m[6]) as string });
    else if (m[7] !== undefined) tokens.push({ t: 'int', v: BigInt(m[7]) });
    else if (m[8] !== undefined) tokens.push({ t: 'var', v: m[8] });
    else if (m[9] !== undefined) tokens.push({ t: 'field', v: m[9] });
    else tokens.push({ t: 'ident', v: m[10] as string });
  }
  return tokens;
}

const FUNCTIONS = new Set([
  'eq',
  'not',
  'printf',
  'int',
  'add',
  'until',
  'quote',
  'dict',
  'dig',
  'b64enc',
  'randAlphaNum',
  'lookup',
]);

function parsePipeline(tokens: Token[], pos: { i: number }, body: string): Pipeline {
  const commands: Command[] = [];
  for (;;) {
    const args: Operand[] = [];
    let fn: string | undefined;
    for (let token = tokens[pos.i]; token && token.t !== '|' && token.t !== ')'; token = tokens[pos.i]) {
      pos.i += 1;
      if (token.t === 'ident' && ['true', 'false'].includes(token.v)) {
        args.push({ kind: 'literal', value: token.v === 'true' });
      } else if (token.t === 'ident') {
        if (!FUNCTIONS.has(token.v))
          throw new TemplateError(`unsupported function ${token.v} in {{ ${body} }}`);
        if (fn !== undefined || args.length > 0)
          throw new TemplateError(`function ${token.v} not first in {{ ${body} }}`);
        fn = token.v;
      } else if (token.t === 'string' || token.t === 'int') {
        args.push({ kind: 'literal', value: token.v });
      } else if (token.t === 'var') {
        const [base = '$', ...path] = token.v.split('.');
        args.push({ kind: 'field', base, path });
      } else if (token.t === 'field') {
        args.push({ kind: 'field', base: '.', path: token.v.split('.').slice(1).filter(Boolean) });
      } else if (token.t === '(') {
        const pipeline = parsePipeline(tokens, pos, body);
        if (tokens[pos.i]?.t !== ')') throw new TemplateError(`unclosed ( in {{ ${body} }}`);
        pos.i += 1;
        args.push({ kind: 'pipeline', pipeline });
      } else {
        throw new TemplateError(`unexpected ${token.t} in {{ ${body} }}`);
      }
    }
    if (fn !== undefined) commands.push({ fn, args });
    else if (args.length === 1) commands.push({ fn: undefined, operand: args[0] as Operand });
    else throw new TemplateError(`expected one operand or a function call in {{ ${body} }}`);
    if (tokens[pos.i]?.t !== '|') return commands;
    pos.i += 1;
  }
}

function parseFullPipeline(tokens: Token[], body: string): Pipeline {
  const pos = { i: 0 };
  const pipeline = parsePipeline(tokens, pos, body);
  if (pos.i !== tokens.length) throw new TemplateError(`unexpected ) in {{ ${body} }}`);
  return pipeline;
}

/** Parses the parts from `pos` until an `end` or `else` that belongs to the caller. */
function parseNodes(parts: Part[], pos: { i: number }): { nodes: Node[]; stop: string | undefined } {
  const nodes: Node[] = [];
  while (pos.i < parts.length) {
    const part = parts[pos.i] as Part;
    pos.i += 1;
    if (part.kind === 'text') {
      nodes.push({ kind: 'text', text: part.text });
      continue;
    }
    const [keyword = ''] = part.body.split(/\s+/);
    const after = part.body.slice(keyword.length).trim();
    if (keyword === 'end' || keyword === 'else') return { nodes, stop: part.body };
    if (keyword === 'if') {
      const branches = [{ cond: parseFullPipeline(tokenize(after), part.body), body: [] as Node[] }];
      let otherwise: Node[] = [];
      for (;;) {
        const inner = parseNodes(parts, pos);
        (branches[branches.length - 1] as { body: Node[] }).body = inner.nodes;
        if (inner.stop === 'end') break;
        if (inner.stop === 'else') {
          const tail = parseNodes(parts, pos);
          if (tail.stop !== 'end')
            throw new TemplateError(`{{ else }} of {{ ${part.body} }} not followed by {{ end }}`);
          otherwise = tail.nodes;
          break;
        }
        const elseIf = /^else\s+if\s+([\s\S]+)$/.exec(inner.stop ?? '');
        if (!elseIf) throw new TemplateError(`{{ ${part.body} }} without {{ end }}`);
        branches.push({
          cond: parseFullPipeline(tokenize(elseIf[1] as string), inner.stop as string),
          body: [],
        });
      }
      nodes.push({ kind: 'if', branches, otherwise });
    } else if (keyword === 'range') {
      const tokens = tokenize(after);
      const decl = tokens.findIndex((t) => t.t === ':=');
      const vars =
        decl < 0
          ? []
          : tokens.slice(0, decl).flatMap((t) => (t.t === 'var' ? [t.v] : t.t === ',' ? [] : ['!']));
      if (vars.includes('!') || vars.length > 2) throw new TemplateError(`unsupported {{ ${part.body} }}`);
      const over = parseFullPipeline(tokens.slice(decl + 1), part.body);
      const inner = parseNodes(parts, pos);
      if (inner.stop !== 'end') throw new TemplateError(`{{ ${part.body} }} needs {{ end }} (no else)`);
      nodes.push({ kind: 'range', vars, over, body: inner.nodes });
    } else if (['with', 'define', 'template', 'block', 'break', 'continue', 'include'].includes(keyword)) {
      throw new TemplateError(`unsupported action {{ ${part.body} }}`);
    } else {
      if (part.body === '') throw new TemplateError('empty action');
      const tokens = tokenize(part.body);
      const [first, second] = tokens;
      if (first?.t === 'var' && second?.t === ':=') {
        if (first.v === '$' || first.v.includes('.'))
          throw new TemplateError(`cannot declare ${first.v} in {{ ${part.body} }}`);
        const pipeline = parseFullPipeline(tokens.slice(2), part.body);
        nodes.push({ kind: 'declare', name: first.v, pipeline });
      } else {
        nodes.push({ kind: 'output', pipeline: parseFullPipeline(tokens, part.body) });
      }
    }
  }
  return { nodes, stop: undefined };
}

/** Go's `%v` of a float64: shortest digits, exponent form from 1e21 down to 1e6 and below 1e-4. */
export function formatFloat(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa = '', exponent = '0'] = x.toExponential().split('e');
  const digits = mantissa.replace('-', '').replace('.', '');
  const exp = Number(exponent);
  let eprec = 6;
  if (eprec > digits.length && digits.length >= exp + 1) eprec = digits.length;
  if (exp < -4 || exp >= eprec) {
    const sign = exp < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(x);
}

function typeName(v: GoValue): string {
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'number') return 'float64';
  if (typeof v === 'bigint') return 'int';
  return typeof v === 'object' ? 'map' : typeof v;
}

/** What Go prints for a value in a template; maps, slices and nil are not supported. */
function print(v: GoValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatFloat(v);
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`printing a ${typeName(v)} is not supported`);
}

/** Go's template truth: false, 0, nil and empty strings, slices and maps are false. */
function truth(v: GoValue): boolean {
  if (v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  if (typeof v === 'bigint') return v !== 0n;
  return Boolean(v);
}

function toInt(v: GoValue): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  throw new TemplateError(`int of a ${typeName(v)} is not supported`);
}

/** Go's strconv.Quote for ASCII; anything else would need Go's notion of printable runes. */
function goQuote(s: string): string {
  if (/[^\x20-\x7e\n\t\r]/.test(s)) throw new TemplateError(`quote of non-ASCII or control characters: ${s}`);
  const escaped = s
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(/\r/g, '\\r');
  return `"${escaped}"`;
}

/** Go's fmt.Sprintf for the one verb the chart uses, `%s` of a string, and `%%`. */
function sprintf(format: GoValue, args: GoValue[]): string {
  if (typeof format !== 'string')
    throw new TemplateError(`printf wants a format string, got ${typeName(format)}`);
  let next = 0;
  const out = format.replace(/%(.)?/g, (_, verb: string | undefined) => {
    if (verb === '%') return '%';
    const arg = args[next];
    next += 1;
    if (verb !== 's' || typeof arg !== 'string')
      throw new TemplateError(
        `printf supports %s of a string only, not %${verb ?? ''} of a ${typeName(arg ?? null)}`,
      );
    return arg;
  });
  if (next !== args.length) throw new TemplateError(`printf: ${args.length} arguments for ${next} verbs`);
  return out;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function isMap(v: GoValue | undefined): v is { [key: string]: GoValue } {
  return v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

function call(fn: string, args: GoValue[], cluster: readonly LiveObject[]): GoValue {
  switch (fn) {
    case 'eq': {
      const [a, b] = args;
      if (args.length !== 2 || a === undefined || b === undefined)
        throw new TemplateError('eq takes two arguments');
      if (typeof a !== typeof b || !['string', 'number', 'bigint', 'boolean'].includes(typeof a)) {
        throw new TemplateError(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
      }
      return a === b;
    }
    case 'not':
      if (args.length !== 1) throw new TemplateError('not takes one argument');
      return !truth(args[0] as GoValue);
    case 'int':
      if (args.length !== 1) throw new TemplateError('int takes one argument');
      return toInt(args[0] as GoValue);
    case 'add':
      return args.reduce<bigint>((sum, v) => sum + toInt(v), 0n);
    case 'until': {
      const [n] = args;
      // sprig's until takes a Go int: a float64 from values is a type error in Helm too.
      if (args.length !== 1 || typeof n !== 'bigint')
        throw new TemplateError(`until wants an int, got ${typeName(n ?? null)}`);
      if (n < 0n) throw new TemplateError('until of a negative count is not supported');
      return Array.from({ length: Number(n) }, (_, i) => BigInt(i));
    }
    case 'quote':
      return args
        .filter((v) => v !== null)
        .map((v) => goQuote(print(v)))
        .join(' ');
    case 'dict': {
      if (args.length % 2 !== 0) throw new TemplateError('dict takes key and value pairs');
      const out: Record<string, GoValue> = {};
      for (let i = 0; i < args.length; i += 2) out[print(args[i] as GoValue)] = args[i + 1] as GoValue;
      return out;
    }
    case 'printf':
      return sprintf(args[0] ?? null, args.slice(1));
    case 'dig': {
      // sprig: dig "k1" "k2" ... default dict; the default when a key is missing on the way.
      const dict = args.at(-1);
      const fallback = args.at(-2);
      const keys = args.slice(0, -2);
      if (
        args.length < 3 ||
        fallback === undefined ||
        !isMap(dict) ||
        keys.some((k) => typeof k !== 'string')
      )
        throw new TemplateError('dig takes keys, a default and a map');
      let value: GoValue = dict;
      for (const [i, key] of keys.entries()) {
        if (!isMap(value)) throw new TemplateError(`dig: ${keys.slice(0, i).join('.')} is not a map`);
        if (!Object.hasOwn(value, key as string)) return fallback;
        value = value[key as string] as GoValue;
      }
      return value;
    }
    case 'b64enc': {
      const [s] = args;
      if (args.length !== 1 || typeof s !== 'string') throw new TemplateError('b64enc takes one string');
      return Buffer.from(s, 'utf8').toString('base64');
    }
    case 'randAlphaNum': {
      // sprig's is goutils.CryptoRandomAlphaNumeric: crypto/rand, uniform over [A-Za-z0-9].
      const [n] = args;
      if (args.length !== 1 || typeof n !== 'bigint' || n < 0n)
        throw new TemplateError(`randAlphaNum wants a count (an int), got ${typeName(n ?? null)}`);
      return Array.from({ length: Number(n) }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');
    }
    case 'lookup': {
      const [apiVersion, kind, namespace, name] = args;
      if (args.length !== 4 || ![apiVersion, kind, namespace, name].every((a) => typeof a === 'string'))
        throw new TemplateError('lookup takes apiVersion, kind, namespace and name, all strings');
      if (name === '') throw new TemplateError('lookup of a list is not supported');
      const found = cluster.find(
        (o) =>
          o.apiVersion === apiVersion &&
          o.kind === kind &&
          o.metadata.name === name &&
          (o.metadata.namespace ?? '') === namespace,
      );
      return found ? (structuredClone(found) as unknown as GoValue) : {};
    }
    default:
      throw new TemplateError(`unsupported function ${fn}`);
  }
}

/** An object of the cluster, as `lookup` answers it. */
export interface LiveObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

interface Scope {
  dot: GoValue;
  vars: ReadonlyMap<string, GoValue>;
  cluster: readonly LiveObject[];
}

function field(scope: Scope, operand: Extract<Operand, { kind: 'field' }>): GoValue {
  let value: GoValue | undefined;
  if (operand.base === '.') value = scope.dot;
  else if (scope.vars.has(operand.base)) value = scope.vars.get(operand.base);
  else throw new TemplateError(`undefined variable ${operand.base}`);
  for (const key of operand.path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TemplateError(`can't read .${key} of a ${typeName(value ?? null)}`);
    }
    // Helm would print nothing for a missing key; the chart's values always define every key it reads.
    if (!Object.hasOwn(value, key)) throw new TemplateError(`map has no entry for key "${key}"`);
    value = value[key];
  }
  return value as GoValue;
}

function evaluate(scope: Scope, pipeline: Pipeline): GoValue {
  let previous: GoValue | undefined;
  for (const command of pipeline) {
    const operand = (o: Operand): GoValue =>
      o.kind === 'literal' ? o.value : o.kind === 'field' ? field(scope, o) : evaluate(scope, o.pipeline);
    if (command.fn === undefined) {
      if (previous !== undefined) throw new TemplateError('piping into a non-function');
      previous = operand(command.operand);
    } else {
      const args = command.args.map(operand);
      if (previous !== undefined) args.push(previous);
      previous = call(command.fn, args, scope.cluster);
    }
  }
  return previous as GoValue;
}

/** Runs a block: variables it declares are in scope until its end, as in Go. */
function execute(nodes: Node[], outer: Scope, out: string[]): void {
  const vars = new Map(outer.vars);
  const scope: Scope = { ...outer, vars };
  for (const node of nodes) {
    if (node.kind === 'text') out.push(node.text);
    else if (node.kind === 'output') out.push(print(evaluate(scope, node.pipeline)));
    else if (node.kind === 'declare') vars.set(node.name, evaluate(scope, node.pipeline));
    else if (node.kind === 'if') {
      const branch = node.branches.find((b) => truth(evaluate(scope, b.cond)));
      execute(branch ? branch.body : node.otherwise, scope, out);
    } else {
      const over = evaluate(scope, node.over);
      if (over === null || typeof over !== 'object')
        throw new TemplateError(`range can't iterate over ${typeName(over)}`);
      const entries: [GoValue, GoValue][] = Array.isArray(over)
        ? over.map((v, i) => [BigInt(i), v])
        : Object.keys(over)
            .sort()
            .map((k) => [k, over[k] as GoValue]);
      for (const [key, value] of entries) {
        const iteration = new Map(vars);
        if (node.vars.length === 1) iteration.set(node.vars[0] as string, value);
        if (node.vars.length === 2) {
          iteration.set(node.vars[0] as string, key);
          iteration.set(node.vars[1] as string, value);
        }
        execute(node.body, { dot: value, vars: iteration, cluster: scope.cluster }, out);
      }
    }
  }
}

/**
 * Renders one template with `data` as both `.` and `$` (Helm passes `.Values`, `.Release`,
 * `.Chart`). `cluster` holds what `lookup` finds, as in `helm install`/`upgrade` against a
 * cluster; by default nothing, as in `helm template`.
 */
export function renderTemplate(
  source: string,
  data: Record<string, GoValue>,
  cluster: readonly LiveObject[] = [],
): string {
  const { nodes, stop } = parseNodes(lex(source), { i: 0 });
  if (stop !== undefined) throw new TemplateError(`{{ ${stop} }} without an opening action`);
  const out: string[] = [];
  execute(nodes, { dot: data, vars: new Map([['$', data]]), cluster }, out);
  return out.join('');
}

export type { GoValue };
