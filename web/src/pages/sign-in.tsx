import { useEffect, useState, type FormEvent } from "react";
import { messageOf, safeReturnTo, signInMethods, signInWithToken, type Session } from "../api.ts";
import { navigate, useLocation } from "../router.tsx";

/**
 * Sign-in: single sign-on when the server has it (the provider sends the browser back to the page
 * it came from), or a personal token, which opens a session cookie and is then forgotten.
 */
export default function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const { query } = useLocation();
  const returnTo = safeReturnTo(query.get("return_to"));
  const [methods, setMethods] = useState<{ sso: boolean; token: boolean }>({ sso: false, token: true });
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = "Sign in · Paved";
    void signInMethods().then(setMethods);
  }, []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const session = await signInWithToken(token.trim());
      setToken("");
      navigate(returnTo, { replace: true });
      onSignedIn(session);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in" id="main">
      <h1>Sign in to Paved</h1>
      {methods.sso ? (
        <p>
          <a className="button primary" href={`/auth/sso/login?return_to=${encodeURIComponent(returnTo)}`}>
            Sign in with single sign-on
          </a>
        </p>
      ) : null}
      <form onSubmit={(e) => void submit(e)} aria-label="Sign in with a token">
        <label htmlFor="token">Personal token</label>
        <input id="token" name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} required />
        <p className="hint">
          Create one with <code>paved tokens create --name browser</code>; the page keeps only a session cookie, never the token.
        </p>
        {error ? (
          <p className="error-notice" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" className="primary" disabled={busy || !token.trim()}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
