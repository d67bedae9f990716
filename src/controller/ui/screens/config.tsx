/**
 * Configuration: the namespace tree, and for the selected namespace its editor (syntax and schema
 * checks before publishing, a diff against the live version, publish with If-Match and a conflict
 * screen), its history (diff of any two releases, rollback), its schema, and delete.
 */
import { useComputed, useSignal } from '@preact/signals';
import { useState } from 'preact/hooks';
import { api, ApiError, nsPath } from '../api.js';
import { CodeEditor } from '../editor.js';
import { check } from '../check.js';
import { ErrorPanel, Loaded, Time, useResource } from '../components.js';
import { configChanges, liveDocs } from '../live.js';
import type { ConfigSummary, Format, Release } from '../model.js';
import { navigate } from '../router.js';
import { contentType, Editor, loadDocument } from './document.js';
import { History } from './history.js';
import { SchemaEditor } from './schema.js';
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
