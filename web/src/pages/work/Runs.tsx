// The task drawer's runs: start an agent on the task (provider, model, permission mode, base branch, where it
// works), the task's runs with their state, and one run opened: its live transcript (the session view: approve,
// answer, follow up), its execution processes, its changes against the merge base with line comments sent back
// to the agent as one follow-up, and Rebase and Merge. Two runs of a task can be compared file by file. A run of a
// project with a dev script can have its dev server started and stopped (one more process of the run).
import { useCallback, useEffect, useState, type FormEvent, type ReactNode } from "react";
import type { FileDiff, MergeStrategy, NewRun, NewRunMode, Provider, ReviewComment, Run, RunDetail, RunReview, TaskView, WorkspaceView } from "../../api/types.gen";
import { Api } from "../../api/client";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { FileDiffView, parsePatch } from "../../components/DiffView";
import { ErrorBanner, StatusPill, ago, errText } from "../../util";
import { SessionPage } from "../Session";
import { canEdit, userName } from "./common";

const MODES: Record<Provider, string[]> = {
  claude: ["default", "acceptEdits", "bypassPermissions", "plan"],
  codex: ["untrusted", "on-request", "never"],
};

export function Runs({ ws, task }: { ws: WorkspaceView; task: TaskView }) {
  const [runs, setRuns] = useState<Run[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => Work.runs(task.id).then(setRuns, (e) => setError(errText(e))), [task.id]);
  useEffect(() => {
    void load();
  }, [load]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "resync") void load();
    else if (f.type === "run" && f.task_id === task.id) setRuns((cur) => (cur.some((r) => r.id === f.run.id) ? cur.map((r) => (r.id === f.run.id ? f.run : r)) : [...cur, f.run]));
  });
  const shown = runs.find((r) => r.id === open) ?? null;
  return (
    <div className="drawer-section" data-testid="runs">
      <h3>Runs</h3>
      <ErrorBanner error={error} />
      <ul className="plain run-list">
        {runs.map((r) => (
          <li key={r.id}>
            <button type="button" className={`run-row${open === r.id ? " active" : ""}`} onClick={() => setOpen(open === r.id ? null : r.id)} data-testid="run-row" data-status={r.status}>
              <span className="provider">{r.provider}</span> <StatusPill status={r.status} />
              {r.pending_approvals > 0 && <span className="tag attention">needs attention</span>}
              <span className="muted"> {r.prepared?.branch ?? r.mode.mode}</span>
              <span className="muted"> · {r.turns} turns · {ago(new Date(r.created_at).toISOString())}</span>
            </button>
            {r.status_message && <p className="muted small">{r.status_message}</p>}
          </li>
        ))}
        {runs.length === 0 && <li className="muted">No runs yet.</li>}
      </ul>
      {canEdit(ws) && !starting && (
        <button type="button" className="primary small" onClick={() => setStarting(true)} disabled={!task.project_id} title={task.project_id ? "" : "Set the task's project first"}>
          Run an agent
        </button>
      )}
      {starting && (
        <StartRun
          task={task}
          onDone={(r) => {
            setStarting(false);
            if (r) {
              setRuns((cur) => [...cur.filter((x) => x.id !== r.id), r]);
              setOpen(r.id);
            }
          }}
        />
      )}
      {shown && <RunPanel ws={ws} run={shown} others={runs.filter((r) => r.id !== shown.id)} />}
    </div>
  );
}

function StartRun({ task, onDone }: { task: TaskView; onDone: (r: Run | null) => void }) {
  const [provider, setProvider] = useState<Provider>("claude");
  const [form, setForm] = useState({ model: "", permission_mode: "", base_branch: "", branch: "", prompt: "" });
  const [mode, setMode] = useState<NewRunMode>("worktree");
  const [carry, setCarry] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: NewRun = { provider, mode, carry_uncommitted: carry };
    if (form.model.trim()) body.model = form.model.trim();
    if (form.permission_mode) body.permission_mode = form.permission_mode;
    if (form.base_branch.trim()) body.base_branch = form.base_branch.trim();
    if (form.branch.trim()) body.branch = form.branch.trim();
    if (form.prompt.trim()) body.prompt = form.prompt;
    Work.startRun(task.id, body).then(onDone, (err) => setError(errText(err)));
  };
  return (
    <form className="form run-start" onSubmit={submit} aria-label="Start a run">
      <label>
        Agent
        <select aria-label="Agent" value={provider} onChange={(e) => setProvider(e.target.value as Provider)}>
          <option value="claude">Claude Code</option>
          <option value="codex">Codex</option>
        </select>
      </label>
      <label>
        Permission mode
        <select aria-label="Permission mode" value={form.permission_mode} onChange={set("permission_mode")}>
          <option value="">workspace default</option>
          {MODES[provider].map((m) => (
            <option key={m}>{m}</option>
          ))}
        </select>
      </label>
      <label>
        Model <input aria-label="Model" value={form.model} onChange={set("model")} placeholder="workspace default" />
      </label>
      <label>
        Base branch <input aria-label="Base branch" value={form.base_branch} onChange={set("base_branch")} placeholder="the project's" />
      </label>
      <label>
        Works in
        <select aria-label="Works in" value={mode} onChange={(e) => setMode(e.target.value as NewRunMode)}>
          <option value="worktree">a new worktree on its own branch</option>
          <option value="in_place">the project's working copy</option>
          <option value="existing">an existing branch</option>
        </select>
      </label>
      {mode !== "in_place" && (
        <label>
          Branch <input aria-label="Branch" value={form.branch} onChange={set("branch")} placeholder={mode === "worktree" ? "from the project's template" : "branch to adopt"} required={mode === "existing"} />
        </label>
      )}
      {mode === "worktree" && (
        <label className="check">
          <input type="checkbox" checked={carry} onChange={(e) => setCarry(e.target.checked)} /> Carry the working copy's uncommitted work in
        </label>
      )}
      <textarea aria-label="Prompt" rows={3} value={form.prompt} onChange={set("prompt")} placeholder={`Default: ${task.key}: ${task.title} and the description`} />
      <div className="row">
        <button type="submit" className="primary small">
          Start
        </button>
        <button type="button" className="small" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
      <ErrorBanner error={error} />
    </form>
  );
}

type Tab = "transcript" | "processes" | "changes" | "compare";

function RunPanel({ ws, run, others }: { ws: WorkspaceView; run: Run; others: Run[] }) {
  const [tab, setTab] = useState<Tab>("transcript");
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [devScript, setDevScript] = useState(false);
  const loadDetail = useCallback(() => Work.run(run.id).then(setDetail, (e) => setError(errText(e))), [run.id]);
  useEffect(() => {
    void loadDetail();
  }, [loadDetail, run]);
  useEffect(() => {
    Work.projects(ws.id).then(
      (ps) => setDevScript(ps.some((p) => p.id === run.project_id && p.scripts.dev.trim() !== "")),
      () => setDevScript(false),
    );
  }, [ws.id, run.project_id]);
  const editable = canEdit(ws);
  const active = run.status === "starting" || run.status === "running" || run.status === "waiting";
  const serving = run.dev_server != null;
  const dev = (start: boolean) => {
    setError(null);
    Work.devServer(run.id, start).then(
      () => void loadDetail(),
      (e) => setError(errText(e)),
    );
  };
  return (
    <div className="run-panel" data-testid="run-panel">
      <div className="row run-tabs">
        {(["transcript", "processes", "changes", "compare"] as Tab[]).map((t) => (
          <button key={t} type="button" className={`small${tab === t ? " active" : ""}`} onClick={() => setTab(t)} disabled={t === "compare" && others.length === 0}>
            {t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
        <span className="grow" />
        {editable && devScript && run.session_id && (
          <button type="button" className="small" onClick={() => dev(!serving)} data-testid="dev-server">
            {serving ? "Stop dev server" : "Start dev server"}
          </button>
        )}
        {editable && active && (
          <button type="button" className="small danger" onClick={() => Work.stopRun(run.id).catch((e) => setError(errText(e)))}>
            Stop
          </button>
        )}
      </div>
      <ErrorBanner error={error} />
      {run.commit_error && <p className="warn">{run.commit_error}</p>}
      <WorkTree ws={ws} run={run} />
      {run.merged && (
        <p className="notice" data-testid="run-merged">
          Merged into {run.merged.into} as {run.merged.commit.slice(0, 10)} ({run.merged.strategy.replace("_", " ")}) by {userName(ws.members, run.merged.by)}.
        </p>
      )}
      {tab === "transcript" && run.session_id && <SessionPage id={run.session_id} />}
      {tab === "transcript" && !run.session_id && <p className="muted">{run.status_message ?? "Not started yet."}</p>}
      {tab === "processes" && (
        <table className="processes" data-testid="processes">
          <tbody>
            {(detail?.processes ?? []).map((p) => (
              <tr key={p.number} data-kind={p.kind} data-status={p.status}>
                <td>{p.number}</td>
                <td>{p.kind}</td>
                <td>
                  <StatusPill status={p.status} />
                  {p.exit_code != null ? ` exit ${p.exit_code}` : ""}
                </td>
                <td className="muted">
                  {p.before_commit?.slice(0, 8) ?? "–"} → {p.after_commit?.slice(0, 8) ?? "–"}
                </td>
                <td className="muted">{p.usage.input_tokens + p.usage.output_tokens ? `${p.usage.input_tokens} in / ${p.usage.output_tokens} out` : ""}</td>
                <td className="muted">{p.message ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tab === "changes" && <Changes ws={ws} run={run} />}
      {tab === "compare" && <Compare run={run} others={others} />}
    </div>
  );
}

function Changes({ ws, run }: { ws: WorkspaceView; run: Run }) {
  const [review, setReview] = useState<RunReview | null>(null);
  const [split, setSplit] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [strategy, setStrategy] = useState<MergeStrategy>("squash");
  const [deleteBranch, setDeleteBranch] = useState(false);
  const [conflict, setConflict] = useState<string | null>(null);
  const load = useCallback(() => Work.runDiff(run.id).then(setReview, (e) => setError(errText(e))), [run.id]);
  useEffect(() => {
    void load();
  }, [load, run.last_commit, run.turns]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "review_comments" && f.run_id === run.id) Work.reviewComments(run.id).then((comments) => setReview((r) => (r ? { ...r, comments } : r)), () => {});
  });
  const editable = canEdit(ws);
  const unsent = (review?.comments ?? []).filter((c) => c.sent_at == null);
  const idle = !(run.status === "starting" || run.status === "running" || run.status === "waiting");
  const send = () =>
    Work.sendReview(run.id).then(
      (r) => setNote(`Sent ${r.sent} comment${r.sent === 1 ? "" : "s"} to the agent${r.queued ? " (queued behind its turn)" : ""}.`),
      (e) => setError(errText(e)),
    );
  const rebase = () => {
    setConflict(null);
    Work.rebaseRun(run.id).then(
      () => {
        setNote(`Rebased onto ${run.base_branch}.`);
        void load();
      },
      (e) => setConflict(errText(e)),
    );
  };
  const merge = () => {
    setConflict(null);
    Work.mergeRun(run.id, { strategy, delete_branch: deleteBranch }).then(
      () => setNote(`Merged into ${run.base_branch}.`),
      (e) => setConflict(errText(e)),
    );
  };
  const askAgent = () => {
    if (!run.session_id || !conflict) return;
    Api.message(run.session_id, `Rebasing your branch onto ${run.base_branch} conflicts: ${conflict}\nRebase onto ${run.base_branch} yourself, resolve the conflicts, and commit.`).then(
      () => setNote("Asked the agent to resolve the conflict."),
      (e) => setError(errText(e)),
    );
  };
  return (
    <div className="changes" data-testid="changes">
      <ErrorBanner error={error} />
      {note && <p className="notice">{note}</p>}
      {conflict && (
        <div className="error" role="alert" data-testid="merge-refused">
          <p>{conflict}</p>
          {editable && run.session_id && /conflict/i.test(conflict) && (
            <button type="button" className="small" onClick={askAgent}>
              Ask the agent to resolve it
            </button>
          )}
        </div>
      )}
      {review && (
        <p className="muted" data-testid="diff-summary">
          {review.diff.files.length} files changed against {run.base_branch} ({review.diff.ahead} commits ahead, {review.diff.behind} behind)
          {review.diff.truncated ? "; some patches are too large to show" : ""}
        </p>
      )}
      <div className="row">
        <button type="button" className={`small${split ? "" : " active"}`} onClick={() => setSplit(false)}>
          Unified
        </button>
        <button type="button" className={`small${split ? " active" : ""}`} onClick={() => setSplit(true)}>
          Split
        </button>
        <span className="grow" />
        {editable && unsent.length > 0 && (
          <button type="button" className="primary small" onClick={send} data-testid="send-review">
            Send {unsent.length} comment{unsent.length === 1 ? "" : "s"} to the agent
          </button>
        )}
      </div>
      {editable && run.status !== "merged" && run.prepared && (
        <div className="row deliver">
          <button type="button" className="small" onClick={rebase} disabled={!idle}>
            Rebase onto {run.base_branch}
          </button>
          <select aria-label="Merge strategy" value={strategy} onChange={(e) => setStrategy(e.target.value as MergeStrategy)}>
            <option value="squash">Squash</option>
            <option value="merge_commit">Merge commit</option>
            <option value="fast_forward">Fast-forward</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={deleteBranch} onChange={(e) => setDeleteBranch(e.target.checked)} /> delete the branch
          </label>
          <button type="button" className="primary small" onClick={merge} disabled={!idle} data-testid="merge">
            Merge into {run.base_branch}
          </button>
        </div>
      )}
      {(review?.diff.files ?? []).map((f) =>
        split ? (
          <FileDiffView key={f.path} file={f} split />
        ) : (
          <ReviewFile key={f.path} ws={ws} run={run} file={f} comments={(review?.comments ?? []).filter((c) => c.path === f.path)} editable={editable} />
        ),
      )}
    </div>
  );
}

/** A file's unified diff where a click on a line number opens a comment on that line. */
function ReviewFile({ ws, run, file, comments, editable }: { ws: WorkspaceView; run: Run; file: FileDiff; comments: ReviewComment[]; editable: boolean }) {
  const [at, setAt] = useState<{ line: number; side: "new" | "old"; code: string } | null>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const lines = parsePatch(file.patch);
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!at || !text.trim()) return;
    Work.addReviewComment(run.id, { path: file.path, line: at.line, side: at.side, code: at.code, body: text }).then(
      () => {
        setAt(null);
        setText("");
      },
      (err) => setError(errText(err)),
    );
  };
  const here = (line: number | undefined, side: "new" | "old") => comments.filter((c) => c.line === line && c.side === side);
  return (
    <div className="file-diff" data-testid="review-file" data-path={file.path}>
      <div className="file-diff-head">
        <span className="path">{file.path}</span>
        <span className="muted">{file.state.replace(/_/g, " ")}</span>
        <span className="counts">
          <span className="plus">+{file.additions}</span> <span className="minus">−{file.deletions}</span>
        </span>
      </div>
      {file.binary && <p className="muted pad">Binary file: no text diff.</p>}
      <div className="diff-scroll">
        <table className="diff-table unified">
          <tbody>
            {lines.map((l, i) => {
              const side = l.kind === "del" ? "old" : "new";
              const num = side === "old" ? l.old : l.new;
              const notes = l.kind === "hunk" || l.kind === "note" ? [] : here(num, side);
              return l.kind === "hunk" || l.kind === "note" ? (
                <tr key={i} className={l.kind}>
                  <td colSpan={3}>{l.text}</td>
                </tr>
              ) : (
                <ReviewRow key={i} kind={l.kind} old={l.old} now={l.new} text={l.text} notes={notes} ws={ws} onComment={editable && num ? () => setAt({ line: num, side, code: l.text }) : undefined}>
                  {at && at.line === num && at.side === side && (
                    <form className="review-form" onSubmit={add}>
                      <textarea aria-label="Review comment" rows={2} value={text} onChange={(e) => setText(e.target.value)} autoFocus />
                      <button type="submit" className="primary small" disabled={!text.trim()}>
                        Comment
                      </button>
                      <button type="button" className="small" onClick={() => setAt(null)}>
                        Cancel
                      </button>
                      <ErrorBanner error={error} />
                    </form>
                  )}
                </ReviewRow>
              );
            })}
          </tbody>
        </table>
      </div>
      {comments
        .filter((c) => !lines.some((l) => (c.side === "old" ? l.old : l.new) === c.line && l.kind !== "hunk"))
        .map((c) => (
          <ReviewNote key={c.id} ws={ws} c={c} />
        ))}
    </div>
  );
}

function ReviewRow(props: {
  kind: string;
  old?: number;
  now?: number;
  text: string;
  notes: ReviewComment[];
  ws: WorkspaceView;
  onComment?: () => void;
  children?: ReactNode;
}) {
  const sign = props.kind === "add" ? "+" : props.kind === "del" ? "-" : " ";
  return (
    <>
      <tr className={props.kind}>
        <td className="num">{props.old ?? ""}</td>
        <td className="num">
          {props.onComment ? (
            <button type="button" className="link line-comment" aria-label={`Comment on line ${props.now ?? props.old}`} onClick={props.onComment}>
              {props.now ?? "+"}
            </button>
          ) : (
            (props.now ?? "")
          )}
        </td>
        <td className="code">
          {sign}
          {props.text}
        </td>
      </tr>
      {(props.notes.length > 0 || props.children) && (
        <tr className="review-notes">
          <td colSpan={3}>
            {props.notes.map((c) => (
              <ReviewNote key={c.id} ws={props.ws} c={c} />
            ))}
            {props.children}
          </td>
        </tr>
      )}
    </>
  );
}

function ReviewNote({ ws, c }: { ws: WorkspaceView; c: ReviewComment }) {
  return (
    <div className={`review-note${c.outdated ? " outdated" : ""}`} data-testid="review-comment">
      <strong>{userName(ws.members, c.author)}</strong> <span className="muted">line {c.line}</span>
      {c.outdated && <span className="tag">outdated</span>}
      {c.sent_at != null ? <span className="tag">sent</span> : <span className="tag">not sent</span>}
      <p>{c.body}</p>
    </div>
  );
}

function Compare({ run, others }: { run: Run; others: Run[] }) {
  const [other, setOther] = useState(others[0]?.id ?? "");
  const [a, setA] = useState<RunReview | null>(null);
  const [b, setB] = useState<RunReview | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Work.runDiff(run.id).then(setA, (e) => setError(errText(e)));
  }, [run.id]);
  useEffect(() => {
    if (other) Work.runDiff(other).then(setB, (e) => setError(errText(e)));
  }, [other]);
  const paths = Array.from(new Set([...(a?.diff.files ?? []), ...(b?.diff.files ?? [])].map((f) => f.path))).sort();
  const counts = (r: RunReview | null, p: string) => {
    const f = r?.diff.files.find((x) => x.path === p);
    return f ? `+${f.additions} −${f.deletions}` : "–";
  };
  const label = (r: Run | undefined) => (r ? `${r.provider} ${r.prepared?.branch ?? ""}` : "");
  return (
    <div data-testid="compare">
      <ErrorBanner error={error} />
      <select aria-label="Compare with" value={other} onChange={(e) => setOther(e.target.value)}>
        {others.map((o) => (
          <option key={o.id} value={o.id}>
            {label(o)}
          </option>
        ))}
      </select>
      <table className="processes">
        <thead>
          <tr>
            <th>File</th>
            <th>{label(run)}</th>
            <th>{label(others.find((o) => o.id === other))}</th>
          </tr>
        </thead>
        <tbody>
          {paths.map((p) => (
            <tr key={p}>
              <td>{p}</td>
              <td>{counts(a, p)}</td>
              <td>{counts(b, p)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted">Open a run's Changes to read its diff, and merge the one you pick.</p>
    </div>
  );
}

/** Where the run's work tree stands: removing it (only when nothing would be lost, unless forced), and
 * starting again from its branch when it vanished. */
function WorkTree({ ws, run }: { ws: WorkspaceView; run: Run }) {
  const [kept, setKept] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!canEdit(ws) || !run.prepared) return null;
  const branch = run.prepared.branch;
  const remove = (force: boolean) => {
    setError(null);
    Work.cleanupRun(run.id, force).then(
      (r) => setKept(r.removed ? null : (r.kept_because ?? "kept")),
      (e) => setError(errText(e)),
    );
  };
  const again = () =>
    branch &&
    Work.startRun(run.task_id, { provider: run.provider, mode: "existing", branch, base_branch: run.base_branch, prompt: "Carry on where the last run stopped." }).catch((e) =>
      setError(errText(e)),
    );
  return (
    <div className="row worktree-state" data-testid="worktree-state" data-state={run.worktree}>
      <ErrorBanner error={error} />
      {run.worktree === "missing" && (
        <>
          <span className="warn">Its work tree is gone from the node; its branch {branch} keeps the commits.</span>
          {branch && (
            <button type="button" className="small" onClick={again}>
              Start again from {branch}
            </button>
          )}
        </>
      )}
      {run.worktree === "removed" && <span className="muted">Its work tree was removed; its branch {branch ?? ""} remains unless it was deleted.</span>}
      {run.worktree === "present" && run.prepared.path && !(run.status === "starting" || run.status === "running" || run.status === "waiting") && (
        <>
          <button type="button" className="small" onClick={() => remove(false)}>
            Remove work tree
          </button>
          {kept && (
            <>
              <span className="warn">Kept: {kept}.</span>
              <button
                type="button"
                className="small danger"
                onClick={() => confirm("Remove it anyway? Uncommitted changes in it are lost; its branch keeps its commits.") && remove(true)}
              >
                Remove anyway
              </button>
            </>
          )}
        </>
      )}
    </div>
  );
}
