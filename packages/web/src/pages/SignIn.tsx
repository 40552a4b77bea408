import { type FormEvent, useState } from 'react';
import { messageOf } from '../api/client.js';
import { useAuth } from '../auth.js';
import { moveAlongRow } from '../components/keys.js';

/** Sign-in with email + password (set by an admin) or with an API key; either opens a cookie session. */
export function SignIn() {
  const { signIn } = useAuth();
  const [mode, setMode] = useState<'password' | 'key'>('password');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [apiKey, setApiKey] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await signIn(mode === 'password' ? { email: email.trim(), password } : { api_key: apiKey.trim() });
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit} aria-labelledby="signin-title">
        <div className="brand brand-lg">
          <span className="brand-mark" aria-hidden="true" />
          Sprocket
        </div>
        <h1 id="signin-title">Sign in</h1>
        {/* WAI-ARIA tabs: one tab stop for the list, arrows move between the tabs and select them. */}
        <div className="segmented" role="tablist" aria-label="Sign-in method" onKeyDown={(e) => moveAlongRow(e)?.click()}>
          <button
            type="button"
            role="tab"
            aria-selected={mode === 'password'}
            tabIndex={mode === 'password' ? 0 : -1}
            onClick={() => setMode('password')}
          >
            Email and password
          </button>
          <button type="button" role="tab" aria-selected={mode === 'key'} tabIndex={mode === 'key' ? 0 : -1} onClick={() => setMode('key')}>
            API key
          </button>
        </div>
        {mode === 'password' ? (
          <>
            <label className="field">
              <span>Email</span>
              <input name="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
            <label className="field">
              <span>Password</span>
              <input
                name="password"
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            </label>
          </>
        ) : (
          <label className="field">
            <span>API key</span>
            <input name="api_key" type="password" autoComplete="off" required value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
            <small className="hint">The key is sent once to open a session; the browser does not keep it.</small>
          </label>
        )}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
