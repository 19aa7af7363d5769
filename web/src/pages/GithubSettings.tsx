// Settings → GitHub (`/settings/github`): the user's GitHub account as main holds it (how it was connected, its
// scopes, when its token expires, whether it must be reconnected or is rate limited), and connecting it: the web
// flow (GitHub brings the browser back here with `?connected=` or `?error=`), a device code (progress arrives on
// the live `github` topic), or a pasted personal access token; disconnecting says what is left to do by hand.
import { useState, type FormEvent } from "react";
import { Github } from "../api/github";
import type { ConnectionKind, DeviceFlow, GithubAccount, GithubStatus } from "../api/types.gen";
import { GhError, useGithubStatus, when } from "../components/Github";
import { Link, navigate, useSearch } from "../router";
import { ErrorBanner } from "../util";

const KIND: Record<ConnectionKind, string> = {
  oauth: "Connected with GitHub (OAuth)",
  device: "Connected with a device code",
  token: "A personal access token",
};

export function GithubSettingsPage() {
  const status = useGithubStatus();
  const search = useSearch();
  const connected = search.get("connected");
  const returned = search.get("error");
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const s = status.data;
  const clearNotes = () => {
    setError(null);
    setNote(null);
    if (connected || returned) navigate("/settings/github", true);
  };
  const connect = () => {
    clearNotes();
    setBusy(true);
    Github.connect().then(
      (r) => {
        window.location.href = r.redirect_url;
      },
      (e) => {
        setError(e);
        setBusy(false);
      },
    );
  };
  const disconnect = () => {
    if (!s?.account || !confirm(`Disconnect the GitHub account ${s.account.login}? Runs can no longer push or open pull requests as you.`)) return;
    clearNotes();
    setBusy(true);
    Github.disconnect()
      .then(
        (r) => {
          setNote(r.note ?? (r.revoked ? "Disconnected; the grant was revoked on GitHub." : "Disconnected."));
          status.reload();
        },
        setError,
      )
      .finally(() => setBusy(false));
  };
  return (
    <section className="page narrow account github-settings">
      <div className="page-head">
        <h1>GitHub</h1>
        <Link href="/account">← Account</Link>
      </div>
      <p className="muted">
        Your own GitHub account: runs push their branches and open pull requests as you, and workspaces connect repositories you can see.
      </p>
      {connected && (
        <p className="notice ok-notice" role="status" data-testid="gh-connected">
          Connected to GitHub as <strong>{connected}</strong>.
        </p>
      )}
      {returned && (
        <p className="error" role="alert" data-testid="gh-error">
          GitHub did not connect: {returned}
        </p>
      )}
      <ErrorBanner error={status.error} />
      <GhError error={error} />
      {note && (
        <p className="notice" role="status" data-testid="gh-note">
          {note}
        </p>
      )}
      {!s && !status.error && <p className="loading">Loading…</p>}
      {s?.account && <AccountBox account={s.account} webUrl={s.web_url} />}
      {s && (
        <div className="card form">
          <h2>{s.account ? "Connect again" : "Connect"}</h2>
          {!s.account && <p className="muted">Not connected to GitHub.</p>}
          <div className="row wrap">
            {s.web_flow && (
              <button type="button" className="primary" onClick={connect} disabled={busy} data-testid="gh-connect">
                {s.account?.health.state === "reconnect" ? "Reconnect GitHub" : "Connect GitHub"}
              </button>
            )}
            {s.account && (
              <button type="button" className="danger" onClick={disconnect} disabled={busy} data-testid="gh-disconnect">
                Disconnect
              </button>
            )}
          </div>
          {s.device_flow && <Device status={s} onError={setError} onChange={status.reload} />}
          <Token webUrl={s.web_url} onError={setError} onDone={status.reload} onStart={clearNotes} />
          {!s.web_flow && !s.device_flow && (
            <p className="muted">This server has no GitHub OAuth app configured: paste a personal access token instead.</p>
          )}
        </div>
      )}
    </section>
  );
}

function AccountBox({ account, webUrl }: { account: GithubAccount; webUrl: string }) {
  const reconnect = account.health.state === "reconnect" ? account.health.reason : null;
  const limited = account.rate_limited_until && account.rate_limited_until > Date.now() ? account.rate_limited_until : null;
  return (
    <div className={`card gh-account${reconnect ? " danger-zone" : ""}`} data-testid="gh-account">
      <h2>
        <a href={`${webUrl.replace(/\/$/, "")}/${encodeURIComponent(account.login)}`} target="_blank" rel="noreferrer">
          {account.login}
        </a>
      </h2>
      <dl className="gh-facts">
        <dt>How</dt>
        <dd>{KIND[account.kind]}</dd>
        <dt>Scopes</dt>
        <dd>{account.scopes.length ? account.scopes.join(", ") : <span className="muted">none listed (a fine-grained token lists none)</span>}</dd>
        {account.expires_at != null && (
          <>
            <dt>Token expires</dt>
            <dd>{when(account.expires_at)}</dd>
          </>
        )}
        <dt>Connected</dt>
        <dd>{when(account.connected_at)}</dd>
      </dl>
      {reconnect && (
        <p className="error" role="alert" data-testid="gh-reconnect">
          <strong>Reconnect GitHub:</strong> {reconnect}
        </p>
      )}
      {limited && (
        <p className="warn" data-testid="gh-rate-limited">
          GitHub's rate limit is reached: rate limited until {when(limited)}.
        </p>
      )}
    </div>
  );
}

/** The device flow: the code to type on GitHub, shown large, kept current by the `github` topic. */
function Device({ status, onError, onChange }: { status: GithubStatus; onError: (e: unknown) => void; onChange: () => void }) {
  const [busy, setBusy] = useState(false);
  const device: DeviceFlow | undefined = status.device;
  const start = () => {
    onError(null);
    setBusy(true);
    Github.startDevice()
      .then(onChange, onError)
      .finally(() => setBusy(false));
  };
  const cancel = () => {
    Github.cancelDevice().then(onChange, onError);
  };
  if (device?.state === "waiting")
    return (
      <div className="device-code" data-testid="gh-device-code">
        <p>
          Open{" "}
          <a href={device.verification_uri} target="_blank" rel="noreferrer">
            {device.verification_uri}
          </a>{" "}
          and type this code:
        </p>
        <p className="big-code" aria-label="Device code">
          {device.user_code}
        </p>
        <p className="muted">Waiting for GitHub… the code expires {when(device.expires_at)}.</p>
        <button type="button" className="small" onClick={cancel}>
          Cancel
        </button>
      </div>
    );
  return (
    <div className="row wrap">
      <button type="button" onClick={start} disabled={busy} data-testid="gh-device">
        Use a device code
      </button>
      {device?.state === "failed" && <span className="error">The device code did not work: {device.reason}</span>}
    </div>
  );
}

/** A pasted personal access token: never shown again, the field is emptied once sent. */
function Token({ webUrl, onError, onDone, onStart }: { webUrl: string; onError: (e: unknown) => void; onDone: () => void; onStart: () => void }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!token.trim()) return;
    onStart();
    setBusy(true);
    Github.pasteToken(token.trim())
      .then(
        onDone,
        onError,
      )
      .finally(() => {
        setToken("");
        setBusy(false);
      });
  };
  return (
    <form className="form" onSubmit={submit} aria-label="Paste a GitHub token">
      <h3>Paste a token</h3>
      <label>
        Personal access token
        <input
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
          data-testid="gh-token-input"
        />
        <span className="muted">
          A fine-grained token with Contents, Pull requests, Issues and Checks access to your repositories (
          <a href={`${webUrl.replace(/\/$/, "")}/settings/personal-access-tokens`} target="_blank" rel="noreferrer">
            make one on GitHub
          </a>
          ).
        </span>
      </label>
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !token.trim()} data-testid="gh-token-save">
          Save token
        </button>
      </div>
    </form>
  );
}
