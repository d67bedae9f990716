/**
 * A namespace's JSON Schema: shown, edited with syntax checks, and saved (admin permission); the
 * editor of the namespace checks its documents against it before publishing.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, nsPath } from '../api.js';
import { CodeEditor } from '../editor.js';
import { check } from '../check.js';
import { ErrorPanel, Loaded, useResource } from '../components.js';
import { may } from '../session.js';

export function SchemaEditor({ namespace }: { namespace: string }) {
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

/** The namespace's schema; undefined when it has none. */
export async function loadSchema(namespace: string, signal?: AbortSignal): Promise<unknown> {
  try {
    return (await api<unknown>(`${nsPath(namespace)}:schema`, { signal })).data;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}
