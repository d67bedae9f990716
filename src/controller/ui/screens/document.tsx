/**
 * A namespace's document: loaded with its ETag, edited with syntax and schema checks as you type,
 * reviewed as a diff against the live version, and published with If-Match; a conflict (someone
 * published meanwhile) shows their change and offers rebase, overwrite or taking theirs.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, nsPath } from '../api.js';
import { CodeEditor } from '../editor.js';
import { check, type Finding } from '../check.js';
import { Diff } from '../diff.js';
import { ErrorPanel, useResource } from '../components.js';
import { liveDocs } from '../live.js';
import type { Format } from '../model.js';
import { loadSchema } from './schema.js';
import { may } from '../session.js';

export interface Document {
  readonly text: string;
  readonly version: number;
  readonly format: Format;
  readonly etag: string;
}

export async function loadDocument(namespace: string, signal?: AbortSignal) {
  const answer = await api<string>(nsPath(namespace), { text: true, signal });
  const type = answer.headers.get('content-type') ?? '';
  const format: Format = type.includes('json')
    ? 'json'
    : type.includes('yaml')
      ? 'yaml'
      : type.includes('properties')
        ? 'properties'
        : 'text';
  return {
    data: {
      text: answer.data,
      version: Number(answer.headers.get('x-zkgate-version')),
      format,
      etag: answer.headers.get('etag') ?? '',
    } satisfies Document,
    stale: answer.stale,
  };
}

type Stage =
  | { kind: 'editing' }
  | { kind: 'review' }
  | { kind: 'publishing' }
  | { kind: 'published'; version: number }
  | { kind: 'conflict'; theirs: Document }
  | { kind: 'failed'; error: ApiError };

/**
 * Editing a document: `base` is the version the edit started from. A publish sends its version
 * as If-Match, so a publish made elsewhere meanwhile is a conflict (412), never lost silently.
 */
export function Editor({
  namespace,
  base: initial,
  onPublished,
}: {
  namespace: string;
  base: Document;
  onPublished: () => void;
}) {
  const [base, setBase] = useState(initial);
  const [text, setText] = useState(initial.text);
  const [generation, setGeneration] = useState(0);
  const [comment, setComment] = useState('');
  const [stage, setStage] = useState<Stage>({ kind: 'editing' });
  const schema = useResource(
    async (signal) => ({ data: await loadSchema(namespace, signal), stale: false }),
    [namespace],
  );
  const findings: Finding[] = useMemo(
    () => (schema.loading && schema.data === undefined ? [] : check(base.format, text, schema.data)),
    [text, base.format, schema.data, schema.loading],
  );
  const live = liveDocs.value.get(namespace);
  const dirty = text !== base.text;
  // A change published elsewhere: shown at once when nothing is being edited.
  useEffect(() => {
    if (!live || live.version <= base.version || stage.kind === 'publishing') return;
    if (!dirty) {
      setBase({
        text: live.content,
        version: live.version,
        format: live.format as Format,
        etag: `"${live.version}"`,
      });
      setText(live.content);
      setGeneration((g) => g + 1);
    }
  }, [live?.version]);
  const canWrite = may({ kind: 'config', name: namespace }, 'write');

  const publish = async (ifMatch: string) => {
    setStage({ kind: 'publishing' });
    try {
      const { data } = await api<{ version: number }>(nsPath(namespace), {
        method: 'PUT',
        body: text,
        headers: {
          'content-type': contentType(base.format),
          'if-match': ifMatch,
          ...(comment ? { 'x-zkgate-comment': comment } : {}),
        },
      });
      setBase({ ...base, text, version: data.version, etag: `"${data.version}"` });
      setComment('');
      setStage({ kind: 'published', version: data.version });
      onPublished();
    } catch (err) {
      const error = err as ApiError;
      if (error.status === 412) {
        const { data: theirs } = await loadDocument(namespace);
        setStage({ kind: 'conflict', theirs });
      } else setStage({ kind: 'failed', error });
    }
  };

  if (stage.kind === 'conflict') {
    const { theirs } = stage;
    return (
      <section class="panel conflict" role="alert" aria-labelledby="conflict-title">
        <h3 id="conflict-title">Conflict: version {theirs.version} was published meanwhile</h3>
        <p>
          You edited version {base.version}. Someone published version {theirs.version} since. Their change:
        </p>
        <Diff
          before={base.text}
          after={theirs.text}
          beforeLabel={`v${base.version} (yours started here)`}
          afterLabel={`v${theirs.version} (theirs)`}
        />
        <p>Your text against theirs:</p>
        <Diff
          before={theirs.text}
          after={text}
          beforeLabel={`v${theirs.version} (theirs)`}
          afterLabel="yours"
        />
        <div class="actions">
          <button
            type="button"
            onClick={() => {
              // Rebase: their version becomes the base; the edit continues, to be reviewed against it.
              setBase(theirs);
              setStage({ kind: 'editing' });
            }}
          >
            Rebase: keep editing on top of v{theirs.version}
          </button>
          <button type="button" class="danger" onClick={() => publish(`"${theirs.version}"`)}>
            Overwrite v{theirs.version} with mine
          </button>
          <button
            type="button"
            onClick={() => {
              setBase(theirs);
              setText(theirs.text);
              setGeneration((g) => g + 1);
              setStage({ kind: 'editing' });
            }}
          >
            Discard mine, take theirs
          </button>
        </div>
      </section>
    );
  }

  return (
    <div class="editing">
      {live && live.version > base.version && dirty && (
        <p class="banner" role="status">
          Version {live.version} was published while you edit: publishing will show the conflict.
        </p>
      )}
      <CodeEditor
        key={`${generation}`}
        value={text}
        format={base.format}
        label={`${namespace} document (${base.format})`}
        readOnly={!canWrite}
        onChange={(t) => {
          setText(t);
          if (stage.kind !== 'editing') setStage({ kind: 'editing' });
        }}
        diagnose={(t) => check(base.format, t, schema.data)}
        recheck={schema.data}
      />
      <div class="checks" aria-live="polite">
        {findings.length === 0 ? (
          <p class="ok" data-testid="checks">
            ✓ {base.format} syntax{schema.data !== undefined ? ' and schema' : ''}: valid
          </p>
        ) : (
          <ul class="findings" data-testid="checks" aria-label="Problems">
            {findings.map((f, i) => (
              <li key={i}>
                <strong>{f.where}</strong>: {f.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      {canWrite && (
        <div class="actions">
          <label class="field inline">
            <span>Comment</span>
            <input value={comment} onInput={(e) => setComment(e.currentTarget.value)} maxLength={500} />
          </label>
          <button
            type="button"
            class="primary"
            disabled={!dirty || findings.length > 0 || stage.kind === 'publishing'}
            onClick={() => setStage({ kind: 'review' })}
          >
            Review changes…
          </button>
        </div>
      )}
      {stage.kind === 'review' && (
        <section class="panel review" aria-labelledby="review-title">
          <h3 id="review-title">Publish over version {base.version}?</h3>
          <Diff
            before={base.text}
            after={text}
            beforeLabel={`live v${base.version}`}
            afterLabel="your edit"
          />
          <button type="button" class="primary" onClick={() => publish(`"${base.version}"`)}>
            Publish
          </button>{' '}
          <button type="button" onClick={() => setStage({ kind: 'editing' })}>
            Back to editing
          </button>
        </section>
      )}
      {stage.kind === 'publishing' && <p role="status">Publishing…</p>}
      {stage.kind === 'published' && (
        <p class="ok" role="status">
          Published version {stage.version}.
        </p>
      )}
      {stage.kind === 'failed' && <ErrorPanel error={stage.error} what={`publishing ${namespace}`} />}
    </div>
  );
}

export function contentType(format: Format): string {
  return {
    json: 'application/json',
    yaml: 'application/yaml',
    properties: 'text/x-java-properties',
    text: 'text/plain',
  }[format];
}
