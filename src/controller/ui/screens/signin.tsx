/**
 * Sign in with a token. The token is checked by the first call (`whoami`): a refused one comes
 * back here with the reason.
 */
import { useState } from 'preact/hooks';
import { signedOutReason, signIn } from '../api.js';

export function SignIn() {
  const [secret, setSecret] = useState('');
  return (
    <main class="signin">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          signIn(secret.trim());
        }}
        aria-labelledby="signin-title"
        class="panel"
      >
        <h1 id="signin-title">zkgate console</h1>
        {signedOutReason.value && (
          <p class="banner" role="alert">
            {signedOutReason.value}
          </p>
        )}
        <label class="field">
          <span>Token</span>
          <input
            type="password"
            name="token"
            autoComplete="off"
            required
            value={secret}
            onInput={(e) => setSecret(e.currentTarget.value)}
            placeholder="zkg_…"
          />
        </label>
        <p class="muted">
          A first start writes the management token to <code>&lt;data dir&gt;/bootstrap-token</code>. The
          token stays in this tab only.
        </p>
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </main>
  );
}
