/** Tokens and policies (for tokens with `acl` permissions): create (the secret shown once), revoke. */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { ConfirmButton, ErrorPanel, Loaded, Time, useResource } from '../components.js';
import { may } from '../session.js';

interface Token {
  accessor: string;
  description: string;
  policies: string[];
  expiresAt?: string;
  createdBy: string;
  createdAt: string;
}

interface PolicyView {
  name: string;
  description?: string;
  rules: Record<string, unknown>;
  builtIn: boolean;
}

/** `["read","write"]`, or per prefix: `"team-a/" read, write; "team-a/secrets/" deny`. */
function ruleText(grant: unknown): string {
  const text = (g: unknown) => (Array.isArray(g) ? g.join(', ') : String(g));
  if (grant === null || typeof grant !== 'object' || Array.isArray(grant)) return text(grant);
  return Object.entries(grant)
    .map(([prefix, g]) => `${JSON.stringify(prefix)} ${text(g)}`)
    .join('; ');
}

export function AccessScreen() {
  const tokens = useResource((signal) => api<Token[]>('/v1/acl/tokens', { signal }), []);
  const policies = useResource((signal) => api<PolicyView[]>('/v1/acl/policies', { signal }), []);
  const [secret, setSecret] = useState<{ accessor: string; secret: string } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [description, setDescription] = useState('');
  const [chosen, setChosen] = useState<string[]>([]);
  const [expires, setExpires] = useState('');
  const [policy, setPolicy] = useState({
    name: '',
    description: '',
    rules: '{\n  "config": { "": ["read"] }\n}',
  });
  const act = async (run: () => Promise<void>) => {
    setError(null);
    try {
      await run();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'INVALID', (err as Error).message));
    }
  };
  const create = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      const { data } = await api<{ accessor: string; secret: string }>('/v1/acl/tokens', {
        method: 'POST',
        body: {
          description,
          policies: chosen,
          ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}),
        },
      });
      setSecret(data);
      setDescription('');
      setChosen([]);
      tokens.reload();
    });
  };
  const savePolicy = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      await api(`/v1/acl/policies/${encodeURIComponent(policy.name)}`, {
        method: 'PUT',
        body: {
          ...(policy.description ? { description: policy.description } : {}),
          rules: JSON.parse(policy.rules) as unknown,
        },
      });
      policies.reload();
    });
  };
  return (
    <section class="main" aria-labelledby="access-title">
      <h2 id="access-title">Access</h2>
      {error && <ErrorPanel error={error} what="the change" />}
      {secret && (
        <div class="panel secret" role="alert">
          <p>
            New token <code>{secret.accessor}</code>. Its secret is shown this once; copy it now:
          </p>
          <p>
            <code data-testid="secret" class="select-all">
              {secret.secret}
            </code>
          </p>
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <h3>Tokens</h3>
      <Loaded resource={tokens} what="tokens">
        {(list) => (
          <div class="scroll">
            <table class="grid" data-testid="tokens">
              <thead>
                <tr>
                  <th scope="col">Accessor</th>
                  <th scope="col">Description</th>
                  <th scope="col">Policies</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  {may({ kind: 'acl' }, 'delete') && <th scope="col">Revoke</th>}
                </tr>
              </thead>
              <tbody>
                {list.map((t) => (
                  <tr key={t.accessor}>
                    <td>
                      <code>{t.accessor}</code>
                    </td>
                    <td>{t.description}</td>
                    <td>{t.policies.join(', ')}</td>
                    <td>
                      <Time iso={t.createdAt} />
                    </td>
                    <td>{t.expiresAt ? <Time iso={t.expiresAt} /> : 'never'}</td>
                    {may({ kind: 'acl' }, 'delete') && (
                      <td>
                        <ConfirmButton
                          label="Revoke…"
                          confirm="Confirm revoke"
                          ariaLabel={`revoke ${t.description}`}
                          onConfirm={() =>
                            act(async () => {
                              await api(`/v1/acl/tokens/${t.accessor}`, { method: 'DELETE' });
                              tokens.reload();
                            })
                          }
                        />
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Loaded>
      {may({ kind: 'acl' }, 'create') && (
        <form class="panel" onSubmit={create} aria-labelledby="new-token">
          <h3 id="new-token">New token</h3>
          <label class="field">
            <span>Description</span>
            <input
              required
              maxLength={256}
              value={description}
              onInput={(e) => setDescription(e.currentTarget.value)}
            />
          </label>
          <fieldset>
            <legend>Policies</legend>
            {(policies.data ?? []).map((p) => (
              <label key={p.name} class="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(p.name)}
                  onChange={(e) =>
                    setChosen(
                      e.currentTarget.checked ? [...chosen, p.name] : chosen.filter((n) => n !== p.name),
                    )
                  }
                />{' '}
                {p.name}
              </label>
            ))}
          </fieldset>
          <label class="field">
            <span>Expires (optional)</span>
            <input type="datetime-local" value={expires} onInput={(e) => setExpires(e.currentTarget.value)} />
          </label>
          <button type="submit" class="primary" disabled={chosen.length === 0}>
            Create token
          </button>
        </form>
      )}
      <h3>Policies</h3>
      <Loaded resource={policies} what="policies">
        {(list) => (
          <ul class="plain policies">
            {list.map((p) => (
              <li key={p.name} class="panel">
                <strong>{p.name}</strong> {p.builtIn && <span class="badge">built in</span>}
                {p.description && <span class="muted"> — {p.description}</span>}
                <ul class="rules" aria-label={`rules of ${p.name}`}>
                  {Object.entries(p.rules).map(([kind, grant]) => (
                    <li key={kind}>
                      <code>{kind}</code> {ruleText(grant)}
                    </li>
                  ))}
                </ul>
                {!p.builtIn && may({ kind: 'acl' }, 'delete') && (
                  <ConfirmButton
                    label={`Delete ${p.name}…`}
                    confirm={`Confirm delete of ${p.name}`}
                    ariaLabel={`delete policy ${p.name}`}
                    onConfirm={() =>
                      act(async () => {
                        await api(`/v1/acl/policies/${encodeURIComponent(p.name)}`, { method: 'DELETE' });
                        policies.reload();
                      })
                    }
                  />
                )}
              </li>
            ))}
          </ul>
        )}
      </Loaded>
      {may({ kind: 'acl' }, 'create') && (
        <form class="panel" onSubmit={savePolicy} aria-labelledby="new-policy">
          <h3 id="new-policy">Create or replace a policy</h3>
          <label class="field">
            <span>Name</span>
            <input
              required
              pattern="[a-z0-9][a-z0-9._\-]{0,63}"
              value={policy.name}
              onInput={(e) => setPolicy({ ...policy, name: e.currentTarget.value })}
            />
          </label>
          <label class="field">
            <span>Description</span>
            <input
              value={policy.description}
              onInput={(e) => setPolicy({ ...policy, description: e.currentTarget.value })}
            />
          </label>
          <label class="field">
            <span>Rules (JSON)</span>
            <textarea
              rows={6}
              value={policy.rules}
              onInput={(e) => setPolicy({ ...policy, rules: e.currentTarget.value })}
            />
          </label>
          <button type="submit">Save policy</button>
        </form>
      )}
    </section>
  );
}
