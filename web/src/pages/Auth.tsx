// Creator sign-up on an empty database, login or sign-up afterwards, and the waiting page for pending users.
import { useState, type FormEvent } from "react";
import { Api, type Me } from "../api/client";
import { ErrorBanner, errText } from "../util";

export function AuthPage({ firstUser, onDone }: { firstUser: boolean; onDone: (u: Me) => void }) {
  const [register, setRegister] = useState(firstUser);
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [setupCode, setSetupCode] = useState("");
  // Main asks for its setup code only when the first account is created from another machine.
  const remote = !["localhost", "127.0.0.1", "[::1]"].includes(window.location.hostname);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = register ? await Api.register(username, password, firstUser && remote ? setupCode : undefined) : await Api.login(username, password);
      onDone(r.user);
    } catch (err) {
      setError(errText(err));
    } finally {
      setBusy(false);
    }
  };
  const title = firstUser ? "Create the first account" : register ? "Create an account" : "Log in";
  return (
    <div className="auth">
      <form onSubmit={submit} className="card" aria-labelledby="auth-title">
        <h1 className="brand">VibeBridge</h1>
        <h2 id="auth-title">{title}</h2>
        {firstUser && <p className="muted">Nobody has signed up yet: this account becomes the creator, with every right.</p>}
        {register && !firstUser && <p className="muted">New accounts wait until an admin approves them.</p>}
        <label>
          Username
          <input name="username" autoComplete="username" required minLength={3} maxLength={32} value={username} onChange={(e) => setUsername(e.target.value.toLowerCase())} autoFocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete={register ? "new-password" : "current-password"} required minLength={8} value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        {firstUser && remote && (
          <label>
            Setup code
            <input name="setup_code" autoComplete="off" required value={setupCode} onChange={(e) => setSetupCode(e.target.value.trim())} />
            <span className="muted">Printed by main when it started (not needed on main's own machine).</span>
          </label>
        )}
        <ErrorBanner error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {register ? "Create account" : "Log in"}
        </button>
        {!firstUser && (
          <button type="button" className="link" onClick={() => setRegister(!register)}>
            {register ? "I have an account: log in" : "Create an account instead"}
          </button>
        )}
      </form>
    </div>
  );
}

export function PendingPage({ me, onCheck, onLogout }: { me: Me; onCheck: () => void; onLogout: () => void }) {
  return (
    <div className="auth">
      <div className="card">
        <h1 className="brand">VibeBridge</h1>
        <h2>Waiting for approval</h2>
        <p>
          Hello <b>{me.username}</b>. An admin needs to approve your account before you can use VibeBridge.
        </p>
        <div className="row">
          <button type="button" className="primary" onClick={onCheck}>
            Check again
          </button>
          <button type="button" onClick={() => void Api.logout().finally(onLogout)}>
            Log out
          </button>
        </div>
      </div>
    </div>
  );
}
