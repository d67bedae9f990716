/**
 * The chart renderer against Go's own text/template (compiled to WebAssembly in
 * @evertdespiegeleer/go-template), on every construct the chart uses that Go has built in; the
 * sprig functions Helm adds are pinned to sprig's documented results.
 */
import { parse as goRender } from '@evertdespiegeleer/go-template';
import { describe, expect, it } from 'vitest';
import { TemplateError, formatFloat, renderTemplate, type GoValue } from './helm-render.js';

// Numbers pass through JSON as float64, exactly as Helm's values do.
const data: Record<string, GoValue> = {
  Values: {
    port: 2181,
    big: 1_000_000,
    bigger: 604_800_000,
    half: 0.5,
    tiny: 0.00001,
    name: 'zk',
    empty: '',
    on: true,
    off: false,
    none: [],
    list: ['a', 'b', 'c'],
    map: { b: 2, a: 'x', '4lw': 'w', c: false },
    nested: { deeper: { leaf: 'L' } },
  },
  Release: { Name: 'rel', Namespace: 'ns' },
};

const SAMPLES = [
  'plain {{ .Values.name }}:{{ .Values.port }} {{ .Values.big }} {{ .Values.bigger }} {{ .Values.half }} {{ .Values.tiny }}',
  'a\n  {{- .Values.name }}  \n  {{ .Values.name -}}  \n  b',
  'x: "\n  {{- range $i, $v := .Values.list -}}\n    {{ if $i }},{{ end }}{{ $v }}-{{ $.Release.Name }}\n  {{- end }}"',
  '{{ range .Values.list }}[{{ . }}]{{ end }}|{{ range $v := .Values.list }}<{{ $v }}>{{ end }}',
  '{{- range $k, $v := .Values.map }}\n{{ $k }}={{ $v }}{{ end }}\n{{ range $v := .Values.map }}{{ $v }};{{ end }}',
  '{{ if .Values.empty }}1{{ else if .Values.none }}2{{ else if .Values.off }}3{{ else }}4{{ end }}',
  '{{ if .Values.on }}on{{ end }}{{ if not .Values.off }} not-off{{ end }}{{ if .Values.map }} map{{ end }}',
  '{{ if eq .Values.name "zk" }}same{{ else }}other{{ end }}',
  '{{/* a comment */}}a {{- /* trimmed */ -}} b\n{{- if .Values.on }}\n  {{ .Values.nested.deeper.leaf }}\n{{- end }}',
  'name: {{ .Release.Name }}-zookeeper{{ if eq .Values.name "zk" }}-observer{{ end }}\n',
  // A variable is in scope until the end of the block that declares it.
  '{{- $n := .Values.name }}{{ if .Values.on }}{{ $n := "inner" }}{{ $n }}{{ end }} {{ $n }}\n{{- range .Values.list }}{{ $v := . }}<{{ $v }}{{ $n }}>{{ end }}',
  '{{ $m := .Values.nested.deeper }}{{ $m.leaf }} {{- $e := .Values.empty }}{{ if $e }}set{{ else }}unset{{ end }}',
  '{{ printf "%s-bootstrap-token" .Release.Name }} {{ printf "zkg_%s" .Values.name }} {{ printf "100%%" }}',
];

describe('renderTemplate', () => {
  it.each(SAMPLES)('renders %j as Go does', async (template) => {
    expect(renderTemplate(template, data)).toBe(await goRender(template, data));
  });

  it.each([
    // Helm would print nothing for a missing key; the chart never relies on that.
    ['{{ .Values.missing }}', /missing/],
    // A number from values is a float64, an integer constant an int.
    ['{{ eq .Values.port 2181 }}', /incompatible types for comparison/],
  ])('fails where Go fails: %s', async (template, error) => {
    await expect(goRender(template, data)).rejects.toThrow(error);
    expect(() => renderTemplate(template, data)).toThrow(error);
  });

  it('prints float64 values as Go %v does', async () => {
    for (const x of [
      0, 1, 7, 2181, 99_999, 100_000, 999_999, 1e6, 1_234_567, 1e21, 1e-4, 1e-5, 0.25, 3.5e10,
    ]) {
      expect(formatFloat(x), String(x)).toBe(await goRender('{{ .x }}', { x }));
    }
  });

  it("implements sprig's int, add, until, quote and dict", () => {
    expect(renderTemplate('{{ int .Values.big }} {{ int .Values.half }}', data)).toBe('1000000 0');
    expect(renderTemplate('{{ add 1 .Values.port }} {{ add (int .Values.port) 1 2 }}', data)).toBe(
      '2182 2184',
    );
    expect(renderTemplate('{{ range $i := until 3 }}{{ $i }}{{ end }}', data)).toBe('012');
    expect(renderTemplate('{{ range $i := until (int .Values.port) }}{{ end }}', data)).toBe('');
    expect(
      renderTemplate('{{ quote .Values.name }} {{ .Values.port | quote }} {{ quote "a\\"b" }}', data),
    ).toBe('"zk" "2181" "a\\"b"');
    expect(
      renderTemplate('{{ range $k, $v := dict "voter" 3 "observer" 0 }}{{ $k }}={{ $v }};{{ end }}', data),
    ).toBe('observer=0;voter=3;');
  });

  it("implements sprig's dig, b64enc and randAlphaNum", () => {
    const secret = { data: { token: 'dG9r' }, metadata: { name: 's' } };
    const withSecret = { ...data, Secret: secret, Empty: {} };
    expect(renderTemplate('{{ dig "data" "token" "none" .Secret }}', withSecret)).toBe('dG9r');
    expect(renderTemplate('{{ dig "data" "other" "none" .Secret }}', withSecret)).toBe('none');
    expect(renderTemplate('{{ dig "data" "token" "none" .Empty }}', withSecret)).toBe('none');
    expect(() => renderTemplate('{{ dig "metadata" "name" "x" "none" .Secret }}', withSecret)).toThrow(
      /not a map/,
    );
    expect(renderTemplate('{{ b64enc "zkg_abc" }} {{ "a:b" | b64enc }}', data)).toBe('emtnX2FiYw== YTpi');
    const random = renderTemplate('{{ randAlphaNum 43 }}', data);
    expect(random).toMatch(/^[A-Za-z0-9]{43}$/);
    expect(renderTemplate('{{ randAlphaNum 43 }}', data)).not.toBe(random);
    // A number from values is a float64; sprig's randAlphaNum takes an int.
    expect(() => renderTemplate('{{ randAlphaNum .Values.port }}', data)).toThrow(/wants a count/);
  });

  it("answers Helm's lookup from the objects given, else with an empty map as helm template does", () => {
    const template =
      '{{ $s := lookup "v1" "Secret" "ns" "s" }}{{ if $s }}{{ $s.data.k }}{{ else }}none{{ end }}';
    expect(renderTemplate(template, data)).toBe('none');
    const live = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's', namespace: 'ns' },
      data: { k: 'v' },
    };
    expect(renderTemplate(template, data, [live])).toBe('v');
    expect(renderTemplate(template, data, [{ ...live, metadata: { name: 's', namespace: 'other' } }])).toBe(
      'none',
    );
    expect(renderTemplate(template, data, [{ ...live, kind: 'ConfigMap' }])).toBe('none');
    expect(() => renderTemplate('{{ lookup "v1" "Secret" "ns" "" }}', data)).toThrow(/list/);
  });

  it('rejects what Helm would reject or what it does not implement, instead of guessing', () => {
    // sprig's until takes a Go int; a number from values is a float64.
    expect(() => renderTemplate('{{ until .Values.port }}', data)).toThrow(TemplateError);
    expect(() => renderTemplate('{{ toYaml .Values.map }}', data)).toThrow(/unsupported function toYaml/);
    expect(() => renderTemplate('{{ include "x" . }}', data)).toThrow(TemplateError);
    expect(() => renderTemplate('{{ with .Values.map }}{{ end }}', data)).toThrow(/unsupported action/);
    expect(() => renderTemplate('{{ .Values.map }}', data)).toThrow(/printing a map/);
    expect(() => renderTemplate('{{ if .Values.on }}open', data)).toThrow(/without \{\{ end \}\}/);
    expect(() => renderTemplate('{{ printf "%d" .Values.port }}', data)).toThrow(/%s of a string only/);
    expect(() => renderTemplate('{{ printf "%s" }}', data)).toThrow(TemplateError);
    expect(() => renderTemplate('{{ $.x := 1 }}', data)).toThrow(TemplateError);
  });
});
