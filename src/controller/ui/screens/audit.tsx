/** Who changed what: the audit trail, filtered by resource prefix, token accessor and time. */
import { useState } from 'preact/hooks';
import { api, query } from '../api.js';
import { Loaded, Time, useResource } from '../components.js';

interface AuditRecord {
  id: string;
  index: string;
  time: string;
  accessor: string;
  description: string;
  action: string;
  resource: string;
  versionBefore: number | null;
  versionAfter: number | null;
  address: string;
}

export function AuditScreen() {
  const [draft, setDraft] = useState({ resource: '', accessor: '', since: '' });
  const [filter, setFilter] = useState(draft);
  const records = useResource(
    (signal) =>
      api<AuditRecord[]>(
        `/v1/audit${query({
          resource: filter.resource,
          accessor: filter.accessor,
          since: filter.since ? new Date(filter.since).toISOString() : undefined,
          limit: '200',
        })}`,
        { signal },
      ),
    [filter],
  );
  return (
    <section class="main" aria-labelledby="audit-title">
      <h2 id="audit-title">Audit</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(draft);
        }}
      >
        <label class="field">
          <span>Resource starts with</span>
          <input
            value={draft.resource}
            placeholder="config:prod/"
            onInput={(e) => setDraft({ ...draft, resource: e.currentTarget.value })}
          />
        </label>
        <label class="field">
          <span>Token accessor</span>
          <input
            value={draft.accessor}
            onInput={(e) => setDraft({ ...draft, accessor: e.currentTarget.value })}
          />
        </label>
        <label class="field">
          <span>Since</span>
          <input
            type="datetime-local"
            value={draft.since}
            onInput={(e) => setDraft({ ...draft, since: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      <Loaded resource={records} what="audit records">
        {(list) =>
          list.length === 0 ? (
            <p class="muted">No records.</p>
          ) : (
            <div class="scroll">
              <table class="grid" data-testid="audit">
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Action</th>
                    <th scope="col">Resource</th>
                    <th scope="col">Versions</th>
                    <th scope="col">Token</th>
                    <th scope="col">Address</th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((r) => (
                    <tr key={r.id}>
                      <td>
                        <Time iso={r.time} />
                      </td>
                      <td>{r.action}</td>
                      <td>
                        <code>{r.resource}</code>
                      </td>
                      <td>
                        {r.versionBefore ?? '∅'} → {r.versionAfter ?? '∅'}
                      </td>
                      <td title={r.accessor}>{r.description}</td>
                      <td>{r.address}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loaded>
    </section>
  );
}
