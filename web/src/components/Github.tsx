// Pieces the GitHub pages share: the connection kept current by the live `github` topic, errors that say what
// to do (connect or reconnect in Settings → GitHub, wait for the rate limit), and the repository picker.
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { useLive, type Live } from "../api/data";
import { Github } from "../api/github";
import type { GithubRepo, GithubStatus, RepoPage } from "../api/types.gen";
import { Link } from "../router";
import { errText } from "../util";

/** The user's GitHub connection, refetched whenever main says it changed (device flow progress, reconnects). */
export function useGithubStatus(): Live<GithubStatus> {
  return useLive("github", () => Github.status());
}

/** When, as the UI says it: a local date and time. */
export const when = (ms: number) => new Date(ms).toLocaleString();

/** `owner/name` as a test id part: `owner-name`. */
export const repoSlug = (fullName: string) => fullName.replace(/\//g, "-");

/**
 * An error from a GitHub call, said so that the user knows what to do: not connected or to be reconnected links
 * to Settings → GitHub, a spent rate limit says so (main's message says until when), GitHub's own words as they are.
 */
export function GhError({ error, testid = "gh-error" }: { error: unknown; testid?: string }) {
  if (error == null || error === "") return null;
  const message = errText(error);
  const code = error instanceof ApiError ? error.code : null;
  if (code === "github_not_connected" || code === "github_reconnect") {
    return (
      <p className="error" role="alert" data-testid={testid} data-code={code}>
        {message} <Link href="/settings/github">Settings → GitHub</Link>
      </p>
    );
  }
  if (code === "github_rate_limited") {
    return (
      <p className="error" role="alert" data-testid={testid} data-code={code}>
        GitHub's rate limit is reached: {message}
      </p>
    );
  }
  return (
    <p className="error" role="alert" data-testid={testid} data-code={code ?? undefined}>
      {code === "github_failed" ? `GitHub says: ${message}` : message}
    </p>
  );
}

const PER_PAGE = 20;

/**
 * The repositories the user's GitHub account can see: a search box (debounced) and a paged list; clicking one
 * hands it to `onPick`. Without a GitHub connection it says so and links to Settings → GitHub. `busy` names the
 * repository being connected (its row is disabled meanwhile).
 */
export function RepoPicker({ onPick, onClose, busy }: { onPick: (repo: GithubRepo) => void; onClose?: () => void; busy?: number | null }) {
  const status = useGithubStatus();
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<RepoPage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const timer = useRef<number | undefined>(undefined);
  const connected = !!status.data?.account;
  useEffect(() => () => window.clearTimeout(timer.current), []);
  useEffect(() => {
    if (!connected) return;
    let alive = true;
    setLoading(true);
    setError(null);
    Github.repos({ q: query || undefined, page, per_page: PER_PAGE })
      .then(
        (r) => alive && setResult(r),
        (e) => alive && setError(e),
      )
      .finally(() => alive && setLoading(false));
    return () => {
      alive = false;
    };
  }, [connected, query, page]);
  const typed = (v: string) => {
    setText(v);
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => {
      setPage(1);
      setQuery(v.trim());
    }, 300);
  };
  return (
    <div className="card form repo-picker" data-testid="gh-repo-picker" role="region" aria-label="Pick a GitHub repository">
      <div className="row">
        <h3 className="grow">Pick a GitHub repository</h3>
        {onClose && (
          <button type="button" className="small" onClick={onClose}>
            Close
          </button>
        )}
      </div>
      {status.error && <p className="error">{status.error}</p>}
      {!status.data && !status.error && <p className="loading">Loading…</p>}
      {status.data && !connected && (
        <p className="notice" data-testid="gh-not-connected">
          Your account is not connected to GitHub. <Link href="/settings/github">Connect it in Settings → GitHub</Link>, then pick a repository here.
        </p>
      )}
      {connected && (
        <>
          <input
            type="search"
            aria-label="Search repositories"
            placeholder="Search your repositories…"
            value={text}
            onChange={(e) => typed(e.target.value)}
            onKeyDown={(e) => {
              // Inside another form (a new project's), Enter searches now instead of submitting it.
              if (e.key !== "Enter") return;
              e.preventDefault();
              window.clearTimeout(timer.current);
              setPage(1);
              setQuery(text.trim());
            }}
            data-testid="gh-repo-search"
          />
          <GhError error={error} />
          {loading && !result && <p className="loading">Loading…</p>}
          {result && (
            <>
              <ul className="plain repo-list" aria-busy={loading}>
                {result.repos.map((r) => (
                  <li key={r.id}>
                    <button type="button" className="repo-row" onClick={() => onPick(r)} disabled={busy === r.id} data-testid={`gh-repo-${repoSlug(r.full_name)}`}>
                      <strong>{r.full_name}</strong>
                      {r.private && <span className="tag">private</span>}
                      <span className="muted"> {r.default_branch}</span>
                      {r.description && <span className="muted repo-desc">{r.description}</span>}
                    </button>
                  </li>
                ))}
                {result.repos.length === 0 && <li className="muted">{query ? `No repository matches "${query}".` : "No repositories."}</li>}
              </ul>
              {(result.page > 1 || result.has_more) && (
                <div className="row">
                  <button type="button" className="small" disabled={result.page <= 1 || loading} onClick={() => setPage(result.page - 1)}>
                    Previous
                  </button>
                  <span className="muted">
                    Page {result.page} · {result.total} repositories
                  </span>
                  <button type="button" className="small" disabled={!result.has_more || loading} onClick={() => setPage(result.page + 1)}>
                    Next
                  </button>
                </div>
              )}
            </>
          )}
        </>
      )}
    </div>
  );
}
