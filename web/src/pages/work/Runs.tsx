// The task drawer's runs: start an agent on the task (provider, model, permission mode, base branch, where it
// works), the task's runs with their state, and one run opened: its live transcript (the session view: approve,
// answer, follow up), its execution processes, its changes against the merge base with line comments sent back
// to the agent as one follow-up, and Rebase and Merge. Two runs of a task can be compared file by file. A run of a
// project with a dev script can have its dev server started and stopped (one more process of the run).
import { useCallback, useEffect, useState, type FormEvent } from "react";
import type { NewRun, NewRunMode, Provider, Run, RunDetail, TaskView, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { ErrorBanner, StatusPill, ago, errText } from "../../util";
import { SessionPage } from "../Session";
import { Changes, Compare } from "./RunReview";
import { canEdit, userName } from "./common";
import { GithubRun } from "./PullRequest";

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
      {shown && <RunPanel ws={ws} task={task} run={shown} others={runs.filter((r) => r.id !== shown.id)} />}
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

function RunPanel({ ws, task, run, others }: { ws: WorkspaceView; task: TaskView; run: Run; others: Run[] }) {
  const [tab, setTab] = useState<Tab>("transcript");
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [devScript, setDevScript] = useState(false);
  const [onGithub, setOnGithub] = useState(false);
  const loadDetail = useCallback(() => Work.run(run.id).then(setDetail, (e) => setError(errText(e))), [run.id]);
  useEffect(() => {
    void loadDetail();
  }, [loadDetail, run]);
  useEffect(() => {
    Work.projects(ws.id).then(
      (ps) => {
        const project = ps.find((p) => p.id === run.project_id);
        setDevScript(!!project && project.scripts.dev.trim() !== "");
        setOnGithub(!!project?.github_repo);
      },
      () => {
        setDevScript(false);
        setOnGithub(false);
      },
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
      {onGithub && <GithubRun ws={ws} run={run} task={task} />}
      {run.merged &&
        (run.merged.pull_request != null ? (
          <p className="notice" data-testid="run-merged">
            This run was merged on GitHub (#{run.merged.pull_request}) into {run.merged.into}
            {run.merged.commit ? ` as ${run.merged.commit.slice(0, 10)}` : ""}.
          </p>
        ) : (
          <p className="notice" data-testid="run-merged">
            Merged into {run.merged.into} as {run.merged.commit.slice(0, 10)} ({run.merged.strategy.replace("_", " ")}) by {userName(ws.members, run.merged.by)}.
          </p>
        ))}
      {/* Main records the session while the run starts: before that there is nothing to follow yet. */}
      {tab === "transcript" && run.session_id && run.status !== "starting" && run.status !== "queued" && (
        <SessionPage id={run.session_id} />
      )}
      {tab === "transcript" && (!run.session_id || run.status === "starting" || run.status === "queued") && (
        <p className="muted">{run.status_message ?? (run.status === "starting" ? "Starting the agent…" : "Not started yet.")}</p>
      )}
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
