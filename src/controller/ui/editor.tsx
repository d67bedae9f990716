/**
 * CodeMirror 6 as a Preact component: the document editor (JSON or YAML highlighting, with
 * folding, search and bracket matching from the basic setup) and the schema editor.
 *
 * Each editor lives in a shadow root: there CodeMirror styles itself through constructed style
 * sheets, where in the document it would add a <style> element, which the page's
 * Content-Security-Policy (`style-src 'self'`, no inline styles) refuses.
 */
import { json } from '@codemirror/lang-json';
import { yaml } from '@codemirror/lang-yaml';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { forceLinting, linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { EditorState, type Extension } from '@codemirror/state';
import { tags } from '@lezer/highlight';
import { basicSetup, EditorView } from 'codemirror';
import { useEffect, useRef } from 'preact/hooks';
import type { Finding } from './check.js';
import type { Format } from './model.js';

/** The page's colours (custom properties cross the shadow boundary), so both themes apply. */
const look = EditorView.theme({
  '&': { backgroundColor: 'var(--panel)', color: 'var(--fg)', minHeight: '14rem', maxHeight: '60vh' },
  '.cm-scroller': {
    overflow: 'auto',
    fontFamily: "ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace",
    fontSize: '13px',
  },
  '.cm-gutters': { backgroundColor: 'var(--bg)', color: 'var(--muted)', borderRightColor: 'var(--line)' },
  '.cm-activeLine, .cm-activeLineGutter': { backgroundColor: 'var(--active-line)' },
  '.cm-cursor': { borderLeftColor: 'var(--fg)' },
  '&.cm-focused': { outline: '2px solid var(--accent)' },
});

/** Token colours from the page's palette, so they stay readable in the dark theme too. */
const colours = syntaxHighlighting(
  HighlightStyle.define([
    { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: 'var(--syn-key)' },
    { tag: [tags.string, tags.special(tags.string)], color: 'var(--syn-string)' },
    { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--syn-literal)' },
    { tag: [tags.comment, tags.meta], color: 'var(--muted)', fontStyle: 'italic' },
    { tag: [tags.punctuation, tags.separator, tags.brace, tags.squareBracket], color: 'var(--muted)' },
  ]),
);

const languages: Record<Format, () => Extension[]> = {
  json: () => [json()],
  yaml: () => [yaml()],
  properties: () => [],
  text: () => [],
};

interface EditorProps {
  /** The initial text; a new `key` on the component starts over with a new one. */
  readonly value: string;
  readonly format: Format;
  readonly label: string;
  readonly readOnly?: boolean;
  readonly onChange?: (text: string) => void;
  /** What is wrong with a text, marked in place (underline, gutter, tooltip). */
  readonly diagnose?: (text: string) => readonly Finding[];
  /** A change of this value re-runs `diagnose` (say, a schema that arrived). */
  readonly recheck?: unknown;
}

function diagnostics(findings: readonly Finding[], length: number): Diagnostic[] {
  return findings.map((f) => {
    const from = Math.min(f.from, length);
    return {
      from,
      to: Math.min(Math.max(f.to, from + 1), length),
      severity: 'error',
      message: `${f.where}: ${f.message}`,
    };
  });
}

export function CodeEditor({
  value,
  format,
  label,
  readOnly = false,
  onChange,
  diagnose,
  recheck,
}: EditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const editor = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;
  const diagnosing = useRef(diagnose);
  diagnosing.current = diagnose;
  useEffect(() => {
    if (editor.current) forceLinting(editor.current);
  }, [recheck]);
  useEffect(() => {
    const shadow = host.current!.shadowRoot ?? host.current!.attachShadow({ mode: 'open' });
    const view = new EditorView({
      root: shadow,
      parent: shadow,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          look,
          colours,
          ...(diagnose
            ? [
                linter(
                  (view) =>
                    diagnostics(diagnosing.current?.(view.state.doc.toString()) ?? [], view.state.doc.length),
                  { delay: 250 },
                ),
                lintGutter(),
              ]
            : []),
          ...languages[format](),
          EditorView.lineWrapping,
          // basicSetup leaves Tab unbound, so keyboard users can tab out of the editor.
          EditorState.readOnly.of(readOnly),
          EditorView.contentAttributes.of({ 'aria-label': label }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) changed.current?.(update.state.doc.toString());
          }),
        ],
      }),
    });
    editor.current = view;
    return () => {
      editor.current = null;
      view.destroy();
    };
    // The editor owns its text once created: the parent remounts it (key) to replace it.
  }, []);
  return <div class="editor" ref={host} />;
}
