/** Pieces every screen uses: loading, error and staleness states, and a resource hook. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: ApiError | undefined;
  readonly loading: boolean;
  /** The data shown is older than the last attempt (which failed), or the gateway marked it stale. */
  readonly stale: boolean;
  reload(): void;
}

/**
 * Loads `fetcher()` whenever `deps` change or `reload()` is called. A failed reload keeps the
 * data it had (marked stale), so a 503 while ZooKeeper is down shows what was last known.
 */
export function useResource<T>(
  fetcher: (signal: AbortSignal) => Promise<{ data: T; stale: boolean }>,
  deps: readonly unknown[],
): Resource<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean; stale: boolean }>({
    loading: true,
    stale: false,
  });
  const [tick, setTick] = useState(0);
  const latest = useRef(fetcher);
  latest.current = fetcher;
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    latest
      .current(abort.signal)
      .then(({ data, stale }) => !abort.signal.aborted && setState({ data, stale, loading: false }))
      .catch((err: unknown) => {
        if (abort.signal.aborted) return;
        const error = err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err));
        setState((s) => ({ ...s, error, loading: false, stale: s.data !== undefined }));
      });
    return () => abort.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, stale: state.stale, reload };
}

/** Loading, error (with nothing to show) or the content, with a stale banner when it applies. */
export function Loaded<T>({
  resource,
  what,
  children,
}: {
  resource: Resource<T>;
  what: string;
  children: (data: T) => ComponentChildren;
}) {
  if (resource.data === undefined) {
    if (resource.error) return <ErrorPanel error={resource.error} what={what} retry={resource.reload} />;
    return (
      <p class="loading" role="status" aria-busy="true">
        Loading {what}…
      </p>
    );
  }
  return (
    <>
      {resource.stale && (
        <p class="banner stale" role="status">
          Stale: showing {what} as last known
          {resource.error
            ? ` (${resource.error.detail})`
            : ' (the gateway serves it from its cache while ZooKeeper is unreachable)'}
          .{' '}
          <button type="button" onClick={resource.reload}>
            Retry
          </button>
        </p>
      )}
      {children(resource.data)}
    </>
  );
}

/** An API failure as a screen: a 403 says what permission is missing. */
export function ErrorPanel({ error, what, retry }: { error: ApiError; what: string; retry?: () => void }) {
  if (error.status === 403)
    return (
      <section class="panel forbidden" role="alert" aria-labelledby="forbidden-title">
        <h2 id="forbidden-title">403 — not allowed</h2>
        <p>Your token may not do this ({what}).</p>
        <p class="detail">{error.detail}</p>
        <p class="muted">Code {error.code}. Ask an operator for a token with the permission.</p>
      </section>
    );
  return (
    <section class="panel error" role="alert">
      <h2>Could not load {what}</h2>
      <p class="detail">{error.detail}</p>
      <p class="muted">
        {error.status > 0 ? `HTTP ${error.status}, ` : ''}code {error.code}
      </p>
      {retry && (
        <button type="button" onClick={retry}>
          Retry
        </button>
      )}
    </section>
  );
}

export function Time({ iso }: { iso: string | undefined }) {
  if (!iso) return <span class="muted">—</span>;
  const date = new Date(iso);
  return (
    <time dateTime={iso} title={iso}>
      {date.toLocaleString()}
    </time>
  );
}

/**
 * A destructive action asked twice: `label` opens the question, then `confirm` does it and
 * Cancel takes it back. Each row holds its own question, so one open row never confirms another.
 */
export function ConfirmButton({
  label,
  confirm,
  ariaLabel,
  onConfirm,
}: {
  label: string;
  confirm: string;
  ariaLabel: string;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="danger" aria-label={ariaLabel} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </>
  );
}
