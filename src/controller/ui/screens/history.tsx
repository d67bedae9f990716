/**
 * A namespace's history: its releases with author and comment, the diff of any two, and rollback
 * to one of them (a new release with its content).
 */
import { useState } from 'preact/hooks';
import { api, ApiError, nsPath } from '../api.js';
import { Diff } from '../diff.js';
import { ErrorPanel, Loaded, Time, useResource } from '../components.js';
import type { Release } from '../model.js';
import { may } from '../session.js';

export function History({
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
      <div class="scroll">
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
                <CompareEnd end="from" version={r.version} chosen={from} onChoose={setFrom} />
                <CompareEnd end="to" version={r.version} chosen={to} onChoose={setTo} />
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
      </div>
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

/** The radio that makes a release one end of the diff. */
function CompareEnd(props: {
  end: 'from' | 'to';
  version: number;
  chosen: number | undefined;
  onChoose: (version: number) => void;
}) {
  return (
    <td>
      <input
        type="radio"
        name={props.end}
        aria-label={`compare ${props.end} version ${props.version}`}
        checked={props.chosen === props.version}
        onChange={() => props.onChoose(props.version)}
      />
    </td>
  );
}
