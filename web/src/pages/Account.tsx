// Account: change the password (every other login ends), links to the GitHub and notification settings, and log
// out everywhere (this one too).
import { useState, type FormEvent } from "react";
import { Api, type Me } from "../api/client";
import { Link } from "../router";
import { forgetThisDevice } from "../push";
import { ErrorBanner, errText } from "../util";

export function AccountPage({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const change = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const r = await Api.changePassword({ current_password: current, new_password: next });
      setCurrent("");
      setNext("");
      setNote(`Password changed. ${r.ended_other_logins} other login(s) ended.`);
    } catch (err) {
      setError(errText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="page narrow account">
      <h1>Account</h1>
      <p className="muted">
        Signed in as <strong>{me.username}</strong> ({me.role}).
      </p>
      <form onSubmit={change} className="card" aria-labelledby="pw-title">
        <h2 id="pw-title">Change password</h2>
        <label>
          Current password
          <input name="current_password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </label>
        <label>
          New password
          <input name="new_password" type="password" autoComplete="new-password" required minLength={8} value={next} onChange={(e) => setNext(e.target.value)} />
        </label>
        <ErrorBanner error={error} />
        {note && <p role="status">{note}</p>}
        <button type="submit" className="primary" disabled={busy}>
          Change password
        </button>
      </form>
      <div className="card">
        <h2>GitHub</h2>
        <p className="muted">Connect your GitHub account so runs can push, open pull requests and follow their checks and reviews.</p>
        <Link href="/settings/github" className="button small" data-testid="account-github">
          Settings → GitHub
        </Link>
      </div>
      <div className="card">
        <h2>Notifications</h2>
        <p className="muted">Get told on this phone or computer when an agent waits for you, a run finishes or fails, or someone mentions you.</p>
        <Link href="/settings/notifications" className="button small" data-testid="account-notifications">
          Settings → Notifications
        </Link>
      </div>
      <div className="card">
        <h2>Everywhere</h2>
        <p className="muted">Ends every login of this account, on every device, this one included.</p>
        <button type="button" onClick={() => void forgetThisDevice()
              .then(() => Api.logoutAll())
              .finally(onLogout)}>
          Log out everywhere
        </button>
      </div>
    </section>
  );
}
