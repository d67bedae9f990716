/**
 * Configuration: the namespace tree, and for the selected namespace its editor (syntax and schema
 * checks before publishing, a diff against the live version, publish with If-Match and a conflict
 * screen), its history (diff of any two releases, rollback), its schema, and delete.
 */
import { useComputed, useSignal } from '@preact/signals';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, nsPath } from '../api.js';
import { CodeEditor } from '../editor.js';
import { check, type Finding } from '../check.js';
import { Diff } from '../diff.js';
import { ErrorPanel, Loaded, Time, useResource } from '../components.js';
import { configChanges, liveDocs } from '../live.js';
import type { ConfigSummary, Format, Release } from '../model.js';
import { navigate } from '../router.js';
import { may, mayUnder } from '../session.js';

const FORMATS: Format[] = ['json', 'yaml', 'properties', 'text'];

export function ConfigScreen({ namespace, tab }: { namespace: string | undefined; tab: string | undefined }) {
  const search = useSignal('');
  const changes = configChanges.value;
  const list = useResource(() => api<ConfigSummary[]>('/v1/config'), [changes]);
  return (
    <div class="split">
      <nav class="side" aria-label="Namespaces">
        <label class="field">
          <span>Search namespaces</span>
          <input type="search" value={search.value} onInput={(e) => (search.value = e.currentTarget.value)} />
        </label>
        {mayUnder('config', '', 'create') && (
          <a class="button" href="#/config-new">
            New namespace
          </a>
        )}
        <Loaded resource={list} what="namespaces">
          {(items) => <Tree items={items} filter={search.value} selected={namespace} />}
        </Loaded>
      </nav>
      <section class="main">
        {namespace === undefined ? (
          <p class="muted">Select a namespace.</p>
        ) : (
          <Namespace
            key={namespace}
            namespace={namespace}
            tab={tab ?? 'edit'}
            summary={list.data?.find((s) => s.namespace === namespace)}
            onChanged={list.reload}
          />
        )}
      </section>
    </div>
  );
}

/** Namespaces grouped by their first segments, as nested lists. */
function Tree({ items, filter, selected }: { items: ConfigSummary[]; filter: string; selected?: string }) {
  const shown = items.filter((i) => i.namespace.toLowerCase().includes(filter.toLowerCase()));
  if (shown.length === 0)
    return <p class="muted">{items.length === 0 ? 'No namespaces yet.' : 'No match.'}</p>;
  const groups = new Map<string, ConfigSummary[]>();
  for (const item of shown) {
    const slash = item.namespace.lastIndexOf('/');
    const folder = slash < 0 ? '' : item.namespace.slice(0, slash);
    groups.set(folder, [...(groups.get(folder) ?? []), item]);
  }
  return (
    <ul class="tree">
      {[...groups]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([folder, entries]) => (
          <li key={folder}>
            {folder !== '' && <span class="folder">{folder}/</span>}
            <ul>
              {entries.map((e) => (
                <li key={e.namespace}>
                  <a
                    href={`#/config/${e.namespace}`}
                    aria-current={e.namespace === selected ? 'page' : undefined}
                    data-namespace={e.namespace}
                  >
                    <span class="name">
                      {folder === '' ? e.namespace : e.namespace.slice(folder.length + 1)}
                    </span>
                    <span class="meta">
                      {e.format} · v<span data-field="version">{e.version}</span> ·{' '}
                      <span title="live watch streams on this gateway replica">
                        {e.watchers ?? 0} watching
                      </span>
                    </span>
                  </a>
                </li>
              ))}
            </ul>
          </li>
        ))}
    </ul>
  );
}

interface Document {
  readonly text: string;
  readonly version: number;
  readonly format: Format;
  readonly etag: string;
}

async function loadDocument(namespace: string, signal?: AbortSignal) {
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

async function loadSchema(namespace: string, signal?: AbortSignal): Promise<unknown> {
  try {
    return (await api<unknown>(`${nsPath(namespace)}:schema`, { signal })).data;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

function Namespace(props: {
  namespace: string;
  tab: string;
  summary?: ConfigSummary;
  onChanged: () => void;
}) {
  const { namespace, tab, summary } = props;
  const live = liveDocs.value.get(namespace);
  const doc = useResource((signal) => loadDocument(namespace, signal), [namespace]);
  const history = useResource(
    (signal) => api<Release[]>(`${nsPath(namespace)}:history`, { signal }),
    [namespace, live?.version],
  );
  const latest = history.data?.[0];
  const canDelete = may({ kind: 'config', name: namespace }, 'delete');
  const [deleting, setDeleting] = useState<'ask' | ApiError | null>(null);
  const remove = async () => {
    try {
      await api(nsPath(namespace), { method: 'DELETE' });
      props.onChanged();
      navigate('#/config');
    } catch (err) {
      setDeleting(err as ApiError);
    }
  };
  const tabs = [
    ['edit', 'Document'],
    ['history', 'History'],
    ['schema', 'Schema'],
  ] as const;
  return (
    <article aria-labelledby="ns-title">
      <header class="ns-header">
        <h2 id="ns-title">{namespace}</h2>
        <dl class="facts">
          <dt>Format</dt>
          <dd>{summary?.format ?? doc.data?.format ?? '…'}</dd>
          <dt>Version</dt>
          <dd data-testid="live-version">{live?.version ?? summary?.version ?? doc.data?.version ?? '…'}</dd>
          <dt>Author</dt>
          <dd>{latest ? (latest.author ?? '—') : history.error ? '—' : '…'}</dd>
          <dt>Modified</dt>
          <dd>
            <Time iso={latest?.time ?? summary?.modified} />
          </dd>
          <dt>Watchers</dt>
          <dd title="live watch streams on this gateway replica">{summary?.watchers ?? '…'}</dd>
        </dl>
        {canDelete && deleting === null && (
          <button type="button" class="danger" onClick={() => setDeleting('ask')}>
            Delete…
          </button>
        )}
      </header>
      {deleting === 'ask' && (
        <div class="panel confirm" role="alertdialog" aria-labelledby="del-q">
          <p id="del-q">
            Delete <strong>{namespace}</strong> and its history? Clients watching it get a deletion.
          </p>
          <button type="button" class="danger" onClick={remove}>
            Delete {namespace}
          </button>{' '}
          <button type="button" onClick={() => setDeleting(null)}>
            Cancel
          </button>
        </div>
      )}
      {deleting instanceof ApiError && <ErrorPanel error={deleting} what={`deleting ${namespace}`} />}
      <div role="tablist" class="tabs" aria-label="Namespace views">
        {tabs.map(([id, label]) => (
          <a key={id} role="tab" href={`#/config/${namespace}:${id}`} aria-selected={tab === id}>
            {label}
          </a>
        ))}
      </div>
      <div role="tabpanel">
        {tab === 'edit' && (
          <Loaded resource={doc} what="the document">
            {(d) => (
              <Editor namespace={namespace} base={d} onPublished={() => (doc.reload(), props.onChanged())} />
            )}
          </Loaded>
        )}
        {tab === 'history' && (
          <Loaded resource={history} what="the history">
            {(releases) => (
              <History
                namespace={namespace}
                releases={releases}
                onRolledBack={() => (doc.reload(), props.onChanged())}
              />
            )}
          </Loaded>
        )}
        {tab === 'schema' && <SchemaEditor namespace={namespace} />}
      </div>
    </article>
  );
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
function Editor({
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

function contentType(format: Format): string {
  return {
    json: 'application/json',
    yaml: 'application/yaml',
    properties: 'text/x-java-properties',
    text: 'text/plain',
  }[format];
}

function History({
  namespace,
  releases,
  onRolledBack,
}: {
  namespace: string;
  releases: Release[];
  onRolledBack: () => void;
}) {
  const [from, setFrom] = useState(releases[1]?.version ?? releases[0]?.version);
  const [to, setTo] = useState(releases[0]?.version);
  const [outcome, setOutcome] = useState<string | ApiError | null>(null);
  const [confirm, setConfirm] = useState<number | null>(null);
  const texts = useResource(
    async (signal) => {
      const load = async (v: number | undefined) =>
        v === undefined
          ? ''
          : (await api<string>(`${nsPath(namespace)}:history/${v}`, { text: true, signal })).data;
      return { data: await Promise.all([load(from), load(to)]), stale: false };
    },
    [from, to],
  );
  const canRollBack = may({ kind: 'config', name: namespace }, 'write');
  const rollback = async (version: number) => {
    setConfirm(null);
    try {
      const { data } = await api<{ version: number }>(`${nsPath(namespace)}:rollback`, {
        method: 'POST',
        body: { version },
      });
      setOutcome(`Rolled back: version ${data.version} has the content of version ${version}.`);
      onRolledBack();
    } catch (err) {
      setOutcome(err as ApiError);
    }
  };
  return (
    <div>
      <table class="grid">
        <caption>Releases, newest first. Pick two to compare.</caption>
        <thead>
          <tr>
            <th scope="col">From</th>
            <th scope="col">To</th>
            <th scope="col">Version</th>
            <th scope="col">Author</th>
            <th scope="col">Comment</th>
            <th scope="col">Time</th>
            <th scope="col">Size</th>
            {canRollBack && <th scope="col">Rollback</th>}
          </tr>
        </thead>
        <tbody>
          {releases.map((r, i) => (
            <tr key={r.version}>
              <td>
                <input
                  type="radio"
                  name="from"
                  aria-label={`compare from version ${r.version}`}
                  checked={from === r.version}
                  onChange={() => setFrom(r.version)}
                />
              </td>
              <td>
                <input
                  type="radio"
                  name="to"
                  aria-label={`compare to version ${r.version}`}
                  checked={to === r.version}
                  onChange={() => setTo(r.version)}
                />
              </td>
              <td>v{r.version}</td>
              <td>{r.author ?? '—'}</td>
              <td>{r.comment ?? ''}</td>
              <td>
                <Time iso={r.time} />
              </td>
              <td>{r.size} B</td>
              {canRollBack && (
                <td>
                  {i > 0 && (
                    <button type="button" onClick={() => setConfirm(r.version)}>
                      Roll back to v{r.version}
                    </button>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {confirm !== null && (
        <div class="panel confirm" role="alertdialog" aria-labelledby="rb-q">
          <p id="rb-q">Publish the content of version {confirm} again, as a new version?</p>
          <button type="button" class="primary" onClick={() => rollback(confirm)}>
            Roll back to v{confirm}
          </button>{' '}
          <button type="button" onClick={() => setConfirm(null)}>
            Cancel
          </button>
        </div>
      )}
      {typeof outcome === 'string' && (
        <p class="ok" role="status">
          {outcome}
        </p>
      )}
      {outcome instanceof ApiError && <ErrorPanel error={outcome} what="the rollback" />}
      <Loaded resource={texts} what="the releases">
        {([a, b]) => <Diff before={a} after={b} beforeLabel={`v${from}`} afterLabel={`v${to}`} />}
      </Loaded>
    </div>
  );
}

function SchemaEditor({ namespace }: { namespace: string }) {
  const schema = useResource(
    async (signal) => ({ data: (await loadSchema(namespace, signal)) ?? null, stale: false }),
    [namespace],
  );
  const [text, setText] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<string | ApiError | null>(null);
  const canAdmin = may({ kind: 'config', name: namespace }, 'admin');
  const save = async () => {
    try {
      await api(`${nsPath(namespace)}:schema`, {
        method: 'PUT',
        body: JSON.parse(text ?? 'null') as unknown,
      });
      setOutcome('Schema saved: the next publish is validated against it.');
      schema.reload();
    } catch (err) {
      setOutcome(err instanceof ApiError ? err : new ApiError(0, 'INVALID_JSON', (err as Error).message));
    }
  };
  return (
    <Loaded resource={schema} what="the schema">
      {(current) => {
        const initial = current === null ? '{\n  "type": "object"\n}' : JSON.stringify(current, null, 2);
        const findings = check('json', text ?? initial, undefined);
        return (
          <div>
            {current === null && <p class="muted">No schema: any well-formed document is accepted.</p>}
            <CodeEditor
              key={initial}
              value={initial}
              format="json"
              label={`${namespace} JSON Schema`}
              readOnly={!canAdmin}
              onChange={setText}
              diagnose={(t) => check('json', t, undefined)}
            />
            {findings.length > 0 && (
              <ul class="findings">
                {findings.map((f, i) => (
                  <li key={i}>
                    <strong>{f.where}</strong>: {f.message}
                  </li>
                ))}
              </ul>
            )}
            {canAdmin && (
              <button
                type="button"
                class="primary"
                disabled={text === null || findings.length > 0}
                onClick={save}
              >
                Save schema
              </button>
            )}
            {typeof outcome === 'string' && (
              <p class="ok" role="status">
                {outcome}
              </p>
            )}
            {outcome instanceof ApiError && <ErrorPanel error={outcome} what="saving the schema" />}
          </div>
        );
      }}
    </Loaded>
  );
}

/** A new namespace: its name, format and first document (offered to tokens that may create). */
export function NewNamespace() {
  const name = useSignal('');
  const format = useSignal<Format>('yaml');
  const [text, setText] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const findings = useComputed(() => (text === '' ? [] : check(format.value, text, undefined)));
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api(nsPath(name.value), {
        method: 'PUT',
        body: text,
        headers: { 'content-type': contentType(format.value), 'if-none-match': '*' },
      });
      navigate(`#/config/${name.value}`);
    } catch (err) {
      setError(err as ApiError);
    }
  };
  return (
    <form class="main narrow" onSubmit={create} aria-labelledby="new-title">
      <h2 id="new-title">New namespace</h2>
      <label class="field">
        <span>Name (segments separated by /)</span>
        <input
          required
          value={name.value}
          onInput={(e) => (name.value = e.currentTarget.value)}
          placeholder="prod/payments"
        />
      </label>
      <label class="field">
        <span>Format</span>
        <select value={format.value} onChange={(e) => (format.value = e.currentTarget.value as Format)}>
          {FORMATS.map((f) => (
            <option key={f}>{f}</option>
          ))}
        </select>
      </label>
      <CodeEditor
        key={format.value}
        value={text}
        format={format.value}
        label="first document"
        onChange={setText}
        diagnose={(t) => check(format.value, t, undefined)}
      />
      {findings.value.length > 0 && (
        <ul class="findings">
          {findings.value.map((f, i) => (
            <li key={i}>
              <strong>{f.where}</strong>: {f.message}
            </li>
          ))}
        </ul>
      )}
      <button type="submit" class="primary" disabled={findings.value.length > 0}>
        Create
      </button>
      {error && <ErrorPanel error={error} what={`creating ${name.value}`} />}
    </form>
  );
}
