// A run of a project on GitHub: push its branch, open a pull request (title and body default to the task's), and
// follow it: its state, its checks (the failing ones with their summaries), its reviews, why following it is paused
// (rate limit, reconnect); the review comments and failed checks sent to the agent by hand or by auto-fix.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { Github } from "../../api/github";
import { useBoardFrames } from "../../api/data";
import type { ChecksSummary, PrState, PullRequest, PushInfo, ReviewDecision, Run, TaskView, WorkspaceView } from "../../api/types.gen";
import { GhError } from "../../components/Github";
import { canEdit } from "./common";

const STATE: Record<PrState, string> = { open: "open", draft: "draft", merged: "merged", closed: "closed" };
const REVIEW: Record<ReviewDecision, string | null> = {
  none: null,
  commented: "commented",
  changes_requested: "changes requested",
  approved: "approved",
};

/** The checks of a pull request's head as one line each: passed, failed (with the failing ones), running. */
export function Checks({ checks }: { checks: ChecksSummary }) {
  const none = checks.state === "none" && checks.passed + checks.failed + checks.pending === 0;
  return (
    <div className={`pr-checks checks-${checks.state}`} data-testid="run-pr-checks" data-state={checks.state}>
      {none && <span className="muted">no checks</span>}
      {checks.passed > 0 && <span className="ok-text">✓ {checks.passed} passed</span>}
      {checks.failed > 0 && <span className="error-text">✗ {checks.failed} failed</span>}
      {checks.pending > 0 && <span className="warn">… {checks.pending} running</span>}
      {checks.failing.length > 0 && (
        <ul className="plain failing">
          {checks.failing.map((f, i) => (
            <li key={`${f.name}-${i}`}>
              {f.url ? (
                <a href={f.url} target="_blank" rel="noreferrer">
                  <strong>{f.name}</strong>
                </a>
              ) : (
                <strong>{f.name}</strong>
              )}{" "}
              <span className="muted">({f.conclusion.replace(/_/g, " ")})</span>
              {f.summary && <span className="check-summary"> {f.summary}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The run's push and pull request, for a run whose project is a clone of a GitHub repository. */
export function GithubRun({ ws, run, task }: { ws: WorkspaceView; run: Run; task: TaskView | null }) {
  const [pr, setPr] = useState<PullRequest | null | undefined>(undefined);
  const [pushed, setPushed] = useState<PushInfo | undefined>(run.pushed);
  const [error, setError] = useState<unknown>(null);
  const [pushing, setPushing] = useState(false);
  const [dialog, setDialog] = useState(false);
  const editable = canEdit(ws);
  const active = run.status === "starting" || run.status === "running" || run.status === "waiting";
  const load = useCallback(
    () =>
      Github.pullRequest(run.id).then(setPr, (e) => {
        setError(e);
        setPr((cur) => cur ?? null);
      }),
    [run.id],
  );
  useEffect(() => {
    void load();
  }, [load]);
  // The newer of the record's push and the one this page just made.
  useEffect(() => {
    setPushed((cur) => (run.pushed && (!cur || run.pushed.at >= cur.at) ? run.pushed : cur));
  }, [run.pushed]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "resync") void load();
    else if (f.type === "pull_request" && f.pull_request.run_id === run.id) setPr(f.pull_request);
  });
  const push = () => {
    setError(null);
    setPushing(true);
    Github.push(run.id)
      .then((r) => r.pushed && setPushed(r.pushed), setError)
      .finally(() => setPushing(false));
  };
  return (
    <div className="gh-run" data-testid="run-github">
      <div className="row wrap">
        {editable && (
          <button type="button" className="small" onClick={push} disabled={active || pushing} title={active ? "Wait for the agent's turn to end" : ""} data-testid="run-push">
            {pushing ? "Pushing…" : pushed ? "Push again" : "Push"}
          </button>
        )}
        {pushed && (
          <span className="muted" data-testid="run-pushed">
            Pushed <code>{pushed.commit.slice(0, 7)}</code> to <code>{pushed.remote_branch}</code>
          </span>
        )}
        <span className="grow" />
        {editable && pr === null && !dialog && (
          <button type="button" className="small primary" onClick={() => setDialog(true)} data-testid="run-create-pr">
            Create pull request
          </button>
        )}
      </div>
      <GhError error={error} />
      {dialog && (
        <NewPr
          run={run}
          task={task}
          onDone={(p) => {
            setDialog(false);
            if (p) setPr(p);
          }}
        />
      )}
      {pr && <PrBox ws={ws} pr={pr} onChange={setPr} />}
    </div>
  );
}

function NewPr({ run, task, onDone }: { run: Run; task: TaskView | null; onDone: (pr: PullRequest | null) => void }) {
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [draft, setDraft] = useState(false);
  const [autofix, setAutofix] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    Github.openPullRequest(run.id, {
      title: title.trim() || undefined,
      body: body.trim() || undefined,
      draft,
      autofix,
    }).then(onDone, (err) => {
      setError(err);
      setBusy(false);
    });
  };
  return (
    <form className="form pr-dialog card" onSubmit={submit} role="dialog" aria-label="Create pull request" data-testid="run-pr-dialog">
      <h3>Create pull request</h3>
      <label>
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} placeholder={task?.title ?? "the task's title"} aria-label="Pull request title" />
      </label>
      <label>
        Body
        <textarea rows={4} value={body} onChange={(e) => setBody(e.target.value)} placeholder="Default: the task's description and what the agent did" aria-label="Pull request body" />
      </label>
      <label className="check">
        <input type="checkbox" checked={draft} onChange={(e) => setDraft(e.target.checked)} /> Draft
      </label>
      <label className="check">
        <input type="checkbox" checked={autofix} onChange={(e) => setAutofix(e.target.checked)} /> Auto-fix review comments and failed checks
      </label>
      <p className="muted small">The branch is pushed first if it has to be.</p>
      <GhError error={error} />
      <div className="row">
        <button type="submit" className="primary small" disabled={busy} data-testid="run-pr-submit">
          {busy ? "Creating…" : "Create pull request"}
        </button>
        <button type="button" className="small" onClick={() => onDone(null)} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function PrBox({ ws, pr, onChange }: { ws: WorkspaceView; pr: PullRequest; onChange: (pr: PullRequest) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [sent, setSent] = useState<string | null>(null);
  const [busy, setBusy] = useState<"address" | "refresh" | "autofix" | null>(null);
  const editable = canEdit(ws);
  const review = REVIEW[pr.review];
  const act = <T,>(what: "address" | "refresh" | "autofix", call: () => Promise<T>, then: (r: T) => void) => {
    setBusy(what);
    setError(null);
    if (what === "address") setSent(null);
    call()
      .then(then, setError)
      .finally(() => setBusy(null));
  };
  return (
    <div className={`pr-box pr-${pr.state}`} data-testid="run-pr" data-state={pr.state}>
      <div className="row wrap">
        <a href={pr.url} target="_blank" rel="noreferrer" data-testid="run-pr-link" className="pr-number">
          #{pr.number}
        </a>
        <span className={`pr-state pr-state-${pr.state}`} data-testid="run-pr-state">
          {STATE[pr.state]}
        </span>
        <span className="pr-title">{pr.title}</span>
        <span className="muted">
          {pr.head_branch} → {pr.base_branch}
        </span>
      </div>
      <Checks checks={pr.checks} />
      {review && (
        <p className={`pr-review review-${pr.review}`} data-testid="run-pr-review">
          Review: {review}
          {pr.review_comments > 0 ? ` · ${pr.review_comments} line comments` : ""}
        </p>
      )}
      {pr.note && (
        <p className="warn" data-testid="run-pr-note">
          ⚠ {pr.note}
        </p>
      )}
      {editable && (
        <div className="row wrap">
          <button
            type="button"
            className="small"
            disabled={busy !== null || pr.state === "merged" || pr.state === "closed"}
            onClick={() =>
              act(
                "address",
                () => Github.address(pr.id),
                (r) => {
                  onChange(r.pull_request);
                  setSent(`sent ${r.comments} comments, ${r.checks} failed checks${r.queued ? " (queued behind the agent's turn)" : ""}`);
                },
              )
            }
            data-testid="run-pr-address"
          >
            {busy === "address" ? "Sending…" : "Address review"}
          </button>
          <button type="button" className="small" disabled={busy !== null} onClick={() => act("refresh", () => Github.refresh(pr.id), onChange)} data-testid="run-pr-refresh">
            {busy === "refresh" ? "Checking…" : "Check now"}
          </button>
          <label className="check">
            <input
              type="checkbox"
              checked={pr.autofix}
              disabled={busy !== null}
              onChange={(e) => {
                const on = e.target.checked;
                act("autofix", () => Github.setAutofix(pr.id, on), onChange);
              }}
              data-testid="run-pr-autofix"
            />{" "}
            Auto-fix <span className="muted">({pr.rounds} round{pr.rounds === 1 ? "" : "s"} used)</span>
          </label>
        </div>
      )}
      {sent && (
        <p className="muted" data-testid="run-pr-sent">
          {sent}
        </p>
      )}
      <GhError error={error} />
    </div>
  );
}
