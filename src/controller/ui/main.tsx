/**
 * The zkgate console: a client of the public API like any other. Signed out it shows the sign-in
 * screen; signed in, the screens its token may use, and one live stream for all of them.
 */
import { useSignalEffect } from '@preact/signals';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, signOut, token } from './api.js';
import { ErrorPanel } from './components.js';
import { liveState, stopWatching, watch } from './live.js';
import { parts, route } from './router.js';
import { AccessScreen } from './screens/access.js';
import { AuditScreen } from './screens/audit.js';
import { ClusterScreen } from './screens/cluster.js';
import { ConfigScreen, NewNamespace } from './screens/config.js';
import { ServicesScreen, watchedServices } from './screens/services.js';
import { SignIn } from './screens/signin.js';
import { loadWhoami, may, mayUnder, whoami } from './session.js';
import './style.css';

function Signed() {
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    loadWhoami().catch((err: unknown) => setError(err as ApiError));
  }, []);
  useSignalEffect(() => {
    if (whoami.value === null) return;
    watch({ config: mayUnder('config', '', 'read'), services: watchedServices.value });
  });
  useEffect(() => stopWatching, []);
  if (error) return <ErrorPanel error={error} what="who you are" retry={() => location.reload()} />;
  const me = whoami.value;
  if (!me)
    return (
      <p class="loading" role="status">
        Signing in…
      </p>
    );
  const [screen, rest] = parts(route.value);
  const operator = may({ kind: 'operator' }, 'read');
  const acl = may({ kind: 'acl' }, 'read');
  const screens = [
    ['config', 'Configuration', true],
    ['services', 'Services', true],
    ['cluster', 'Cluster', operator],
    ['audit', 'Audit', operator || acl],
    ['access', 'Access', acl],
  ] as const;
  const current = screen === 'config-new' ? 'config' : screen;
  return (
    <>
      <header class="top">
        <a href="#main" class="skip">
          Skip to content
        </a>
        <strong class="brand">zkgate</strong>
        <nav aria-label="Screens">
          {screens
            .filter(([, , shown]) => shown)
            .map(([id, label]) => (
              <a key={id} href={`#/${id}`} aria-current={current === id ? 'page' : undefined}>
                {label}
              </a>
            ))}
        </nav>
        <span class={`live live-${liveState.value}`} role="status" title="the live update stream">
          {liveState.value === 'open'
            ? '● live'
            : liveState.value === 'off'
              ? '○ not live'
              : '◌ reconnecting'}
        </span>
        <span class="who" data-testid="whoami" title={me.accessor}>
          {me.description} ({me.policies.map((p) => p.name).join(', ')})
        </span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {screen === 'config' && <ConfigScreen {...configTarget(rest)} />}
        {screen === 'config-new' && <NewNamespace />}
        {screen === 'services' && <ServicesScreen service={rest} />}
        {screen === 'cluster' && <ClusterScreen />}
        {screen === 'audit' && <AuditScreen />}
        {screen === 'access' && <AccessScreen />}
      </main>
    </>
  );
}

/** `prod/payments:history` -> the namespace and its tab. */
function configTarget(rest: string | undefined): { namespace: string | undefined; tab: string | undefined } {
  if (!rest) return { namespace: undefined, tab: undefined };
  const colon = rest.indexOf(':');
  return colon < 0
    ? { namespace: rest, tab: undefined }
    : { namespace: rest.slice(0, colon), tab: rest.slice(colon + 1) };
}

function App() {
  useSignalEffect(() => {
    if (token.value === null) {
      whoami.value = null;
      stopWatching();
    }
  });
  return token.value === null ? <SignIn /> : <Signed key={token.value} />;
}

render(<App />, document.getElementById('app')!);
