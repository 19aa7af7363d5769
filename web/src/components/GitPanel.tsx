// The git panel of a directory: branch switcher (and new branch), ahead/behind, the status in Staged / Changes /
// Untracked / Conflicted with per-file stage, unstage and discard, a file's diff, the commit box and history.
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, Git, type Me } from "../api/client";
import type { BranchInfo, FileDiff, FileState, GitStatus, StatusEntry } from "../api/types.gen";
import { ErrorBanner, errText } from "../util";
import { FileDiffView } from "./DiffView";
import { CommitBox, History } from "./GitCommit";

const LETTER: Record<FileState, string> = {
  unmodified: " ",
  added: "A",
  modified: "M",
  deleted: "D",
  renamed: "R",
  type_changed: "T",
  untracked: "U",
  conflicted: "!",
};

type Group = "conflicted" | "staged" | "changes" | "untracked";

const isConflict = (e: StatusEntry) => e.staged === "conflicted" || e.unstaged === "conflicted";

function groups(entries: StatusEntry[]): Record<Group, StatusEntry[]> {
  const g: Record<Group, StatusEntry[]> = { conflicted: [], staged: [], changes: [], untracked: [] };
  for (const e of entries) {
    if (isConflict(e)) g.conflicted.push(e);
    else if (e.unstaged === "untracked" || e.staged === "untracked") g.untracked.push(e);
    else {
      if (e.staged !== "unmodified") g.staged.push(e);
      if (e.unstaged !== "unmodified") g.changes.push(e);
    }
  }
  return g;
}

const TITLES: Record<Group, string> = { conflicted: "Conflicted", staged: "Staged", changes: "Changes", untracked: "Untracked" };

/** Whether the screen is phone-sized (the layout's own breakpoint). */
export function useNarrow(): boolean {
  const mq = "(max-width: 720px)";
  const [narrow, setNarrow] = useState(() => matchMedia(mq).matches);
  useEffect(() => {
    const m = matchMedia(mq);
    const update = () => setNarrow(m.matches);
    m.addEventListener("change", update);
    return () => m.removeEventListener("change", update);
  }, []);
  return narrow;
}

export function GitPanel({
  node,
  repo,
  me,
  onMe,
  tick,
  visible,
  onOpenFile,
  onWorkTreeChanged,
}: {
  node: string;
  /** The directory the panel is about (any directory inside the work tree). */
  repo: string;
  me: Me;
  onMe: (m: Me) => void;
  /** Changes when files were saved elsewhere on the page, so the status is read again. */
  tick: number;
  visible: boolean;
  onOpenFile: (path: string) => void;
  /** A checkout or discard changed files on disk. */
  onWorkTreeChanged: () => void;
}) {
  const git = useGitStatus(node, repo, visible, tick, onWorkTreeChanged);
  const { status, notRepo, error, busy, branches, load, act, stage, unstage, discard } = git;
  const [sel, setSel] = useState<{ path: string; staged: boolean } | null>(null);
  const [split, setSplit] = useState(() => localStorage.getItem("vb-diff-split") === "1");
  const narrow = useNarrow();
  const diffRef = useRef<HTMLDivElement>(null);

  // A file that left the status (committed, discarded) has no diff to show any more.
  useEffect(() => {
    if (sel && status && !status.entries.some((e) => e.path === sel.path)) setSel(null);
  }, [status, sel]);

  if (notRepo)
    return (
      <div className="git-panel" data-testid="git-panel">
        <p className="muted pad" data-testid="not-a-repo">
          Not a git repository: <span className="path">{repo}</span>
        </p>
      </div>
    );
  if (!status)
    return (
      <div className="git-panel" data-testid="git-panel">
        <ErrorBanner error={error} />
        {!error && <p className="muted pad">Reading the git status…</p>}
      </div>
    );

  const g = groups(status.entries);
  const abs = (rel: string) => `${status.workdir.replace(/\/$/, "")}/${rel}`;
  const show = (path: string, staged: boolean) => {
    setSel({ path, staged });
    if (narrow) requestAnimationFrame(() => diffRef.current?.scrollIntoView({ block: "start" }));
  };

  const unstagedPaths = [...g.changes, ...g.untracked].map((e) => e.path);
  const clean = status.entries.length === 0;

  return (
    <div className="git-panel" data-testid="git-panel">
      <div className="git-side">
        <BranchBar node={node} repo={repo} status={status} branches={branches} busy={busy} act={act} />
        <ErrorBanner error={error} />
        <div className="row spread git-summary">
          <span className="muted" data-testid="git-summary">
            {clean ? "Nothing to commit, working tree clean" : `${status.entries.length} changed path${status.entries.length > 1 ? "s" : ""}`}
            {status.truncated ? " (more not shown)" : ""}
          </span>
          <span className="row">
            {unstagedPaths.length > 0 && (
              <button type="button" className="small" disabled={busy} onClick={() => void stage(unstagedPaths)}>
                Stage all
              </button>
            )}
            <button type="button" className="small icon" aria-label="Refresh git status" title="Refresh" onClick={load}>
              ⟳
            </button>
          </span>
        </div>
        {(["conflicted", "staged", "changes", "untracked"] as const).map((group) => (
          <StatusGroup
            key={group}
            group={group}
            list={g[group]}
            sel={sel}
            busy={busy}
            onShow={show}
            onOpen={(rel) => onOpenFile(abs(rel))}
            stage={stage}
            unstage={unstage}
            discard={discard}
          />
        ))}
        <CommitBox node={node} repo={repo} me={me} onMe={onMe} staged={g.staged.length} onCommitted={load} />
      </div>
      <div className="git-main">
        <div ref={diffRef}>
          {sel && (
            <DiffPane
              node={node}
              repo={repo}
              sel={sel}
              status={status}
              split={split && !narrow}
              narrow={narrow}
              onSplit={(s) => {
                setSplit(s);
                localStorage.setItem("vb-diff-split", s ? "1" : "0");
              }}
              onClose={() => setSel(null)}
            />
          )}
        </div>
        {!sel && !clean && <p className="muted">Pick a changed file to see its diff.</p>}
        <History node={node} repo={repo} head={status.head} />
      </div>
    </div>
  );
}

/** The git status of `repo` on `node`, read again when the panel shows, when `tick` changes and after every
 * action; the actions (stage, unstage, discard, and `act` for the branch bar) answer the new status. */
function useGitStatus(node: string, repo: string, visible: boolean, tick: number, onWorkTreeChanged: () => void) {
  const [status, setStatus] = useState<GitStatus | null>(null);
  const [notRepo, setNotRepo] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [branches, setBranches] = useState<BranchInfo[]>([]);

  const load = useCallback(() => {
    setError(null);
    Git.status(node, repo).then(
      (s) => {
        setStatus(s);
        setNotRepo(false);
      },
      (e) => {
        if (e instanceof ApiError && e.code === "not_a_repository") {
          setNotRepo(true);
          setStatus(null);
        } else setError(errText(e));
      },
    );
  }, [node, repo]);
  useEffect(() => {
    if (visible) load();
  }, [load, visible, tick]);
  const hasStatus = status !== null;
  useEffect(() => {
    if (!hasStatus) return;
    Git.branches(node, repo).then(
      (b) => setBranches(b.branches),
      () => setBranches([]),
    );
  }, [node, repo, hasStatus, status?.branch, status?.head]);

  /** Runs one git action that answers the new status; false when it failed (the error is shown). */
  const act = async (f: () => Promise<GitStatus>, touchesFiles = false): Promise<boolean> => {
    setBusy(true);
    setError(null);
    try {
      setStatus(await f());
      if (touchesFiles) onWorkTreeChanged();
      return true;
    } catch (e) {
      setError(errText(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const stage = (paths: string[]) => act(() => Git.stage(node, repo, paths));
  const unstage = (paths: string[]) => act(() => Git.unstage(node, repo, paths));
  const discard = (paths: string[], untracked: boolean) => {
    const what = paths.length === 1 ? paths[0] : `${paths.length} files`;
    const q = untracked ? `Delete the untracked ${what}? This cannot be undone.` : `Discard the unstaged changes to ${what}? This cannot be undone.`;
    if (confirm(q)) void act(() => Git.discard(node, repo, paths), true);
  };
  return { status, notRepo, error, busy, branches, load, act, stage, unstage, discard };
}

/** One group of the status (conflicted, staged, changes or untracked) with its rows and group actions. */
function StatusGroup({
  group,
  list,
  sel,
  busy,
  onShow,
  onOpen,
  stage,
  unstage,
  discard,
}: {
  group: Group;
  list: StatusEntry[];
  sel: { path: string; staged: boolean } | null;
  busy: boolean;
  onShow: (path: string, staged: boolean) => void;
  /** Opens a work-tree-relative path in the editor. */
  onOpen: (rel: string) => void;
  stage: (paths: string[]) => Promise<boolean>;
  unstage: (paths: string[]) => Promise<boolean>;
  discard: (paths: string[], untracked: boolean) => void;
}) {
  const row = (e: StatusEntry) => {
    const state = group === "staged" ? e.staged : group === "changes" ? e.unstaged : group === "untracked" ? "untracked" : "conflicted";
    const staged = group === "staged";
    const slash = e.path.lastIndexOf("/");
    const selected = sel?.path === e.path && sel.staged === staged;
    return (
      <li key={`${group}:${e.path}`} className={`git-row ${selected ? "selected" : ""}`} data-testid="git-file" data-group={group} data-path={e.path}>
        <button
          type="button"
          className="git-file"
          onClick={() => onShow(e.path, staged)}
          title={e.orig_path ? `${e.orig_path} → ${e.path}` : e.path}
          aria-label={`${e.path}, ${state.replace(/_/g, " ")}`}
          aria-current={selected || undefined}
        >
          <span className={`fs fs-${state}`} aria-hidden="true">
            {LETTER[state]}
          </span>
          <span className="git-name">{e.path.slice(slash + 1)}</span>
          {slash > 0 && <span className="git-dir">{e.path.slice(0, slash)}</span>}
        </button>
        <span className="git-actions">
          {state !== "deleted" && (
            <button type="button" className="icon" aria-label={`Open ${e.path}`} title="Open in the editor" onClick={() => onOpen(e.path)}>
              ✎
            </button>
          )}
          {(group === "changes" || group === "untracked") && (
            <button type="button" className="icon" aria-label={`Discard ${e.path}`} title={group === "untracked" ? "Delete" : "Discard changes"} disabled={busy} onClick={() => discard([e.path], group === "untracked")}>
              ↺
            </button>
          )}
          {staged ? (
            <button type="button" className="icon" aria-label={`Unstage ${e.path}`} title="Unstage" disabled={busy} onClick={() => void unstage([e.path])}>
              −
            </button>
          ) : (
            <button type="button" className="icon" aria-label={`Stage ${e.path}`} title={group === "conflicted" ? "Mark resolved" : "Stage"} disabled={busy} onClick={() => void stage([e.path])}>
              +
            </button>
          )}
        </span>
      </li>
    );
  };

  if (!list.length) return null;
  const paths = list.map((e) => e.path);
  return (
    <section className="git-group" aria-label={TITLES[group]} data-testid={`git-group-${group}`}>
      <h3>
        {TITLES[group]} <span className="count">{list.length}</span>
        {group === "staged" ? (
          <button type="button" className="small" disabled={busy} onClick={() => void unstage(paths)}>
            Unstage all
          </button>
        ) : group === "changes" ? (
          <button type="button" className="small" disabled={busy} onClick={() => discard(paths, false)}>
            Discard all
          </button>
        ) : null}
      </h3>
      <ul>{list.map((e) => row(e))}</ul>
    </section>
  );
}

function BranchBar({
  node,
  repo,
  status,
  branches,
  busy,
  act,
}: {
  node: string;
  repo: string;
  status: GitStatus;
  branches: BranchInfo[];
  busy: boolean;
  act: (f: () => Promise<GitStatus>, touchesFiles?: boolean) => Promise<boolean>;
}) {
  const [creating, setCreating] = useState(false);
  const [name, setName] = useState("");
  const local = branches.filter((b) => !b.remote);
  const remote = branches.filter((b) => b.remote);
  const current = status.branch ?? "";
  return (
    <div className="branch-bar">
      <div className="row wrap">
        <label className="inline">
          <span aria-hidden="true">⎇</span>
          <select
            aria-label="Branch"
            data-testid="branch"
            value={current}
            disabled={busy}
            onChange={(e) => {
              const b = e.target.value;
              if (b && b !== current) void act(() => Git.checkout(node, repo, b), true);
            }}
          >
            {!status.branch && <option value="">{status.head ? `detached at ${status.head.slice(0, 8)}` : "no commits yet"}</option>}
            {status.branch && !local.some((b) => b.name === status.branch) && <option value={status.branch}>{status.branch}</option>}
            {local.map((b) => (
              <option key={b.name} value={b.name}>
                {b.name}
              </option>
            ))}
            {remote.length > 0 && (
              <optgroup label="Remote">
                {remote.map((b) => (
                  <option key={b.name} value={b.name}>
                    {b.name}
                  </option>
                ))}
              </optgroup>
            )}
          </select>
        </label>
        {status.upstream && (
          <span className="muted ahead-behind" title={`${status.ahead} ahead of, ${status.behind} behind ${status.upstream}`}>
            ↑{status.ahead} ↓{status.behind} {status.upstream}
          </span>
        )}
        <button type="button" className="small" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          New branch
        </button>
      </div>
      {creating && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (!name.trim()) return;
            void act(() => Git.createBranch(node, repo, name.trim(), true)).then((ok) => {
              if (!ok) return;
              setCreating(false);
              setName("");
            });
          }}
        >
          <input aria-label="New branch name" placeholder={`from ${current || "HEAD"}`} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
          <button type="submit" className="primary small" disabled={busy || !name.trim()}>
            Create and switch
          </button>
        </form>
      )}
    </div>
  );
}

function DiffPane({
  node,
  repo,
  sel,
  status,
  split,
  narrow,
  onSplit,
  onClose,
}: {
  node: string;
  repo: string;
  sel: { path: string; staged: boolean };
  status: GitStatus;
  split: boolean;
  narrow: boolean;
  onSplit: (s: boolean) => void;
  onClose: () => void;
}) {
  const [files, setFiles] = useState<FileDiff[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const entry = status.entries.find((e) => e.path === sel.path);
  const untracked = entry && (entry.unstaged === "untracked" || entry.staged === "untracked");
  useEffect(() => {
    let alive = true;
    setError(null);
    if (untracked) {
      setFiles([]);
      return;
    }
    Git.diff(node, repo, sel.staged, sel.path).then(
      (d) => alive && (setFiles(d.files), setTruncated(d.truncated)),
      (e) => alive && setError(errText(e)),
    );
    return () => {
      alive = false;
    };
    // The status object changes after every save, stage and commit: read the diff again then.
  }, [node, repo, sel.path, sel.staged, status, untracked]);
  return (
    <div className="diff-pane" data-testid="diff-pane">
      <div className="row spread diff-pane-head">
        <h3>
          {sel.staged ? "Staged" : "Unstaged"} changes: <span className="path">{sel.path}</span>
        </h3>
        <span className="row">
          {!narrow && (
            <span className="seg" role="group" aria-label="Diff layout">
              <button type="button" className="small" aria-pressed={!split} onClick={() => onSplit(false)}>
                Unified
              </button>
              <button type="button" className="small" aria-pressed={split} onClick={() => onSplit(true)}>
                Split
              </button>
            </span>
          )}
          <button type="button" className="small icon" aria-label="Close the diff" onClick={onClose}>
            ×
          </button>
        </span>
      </div>
      <ErrorBanner error={error} />
      {untracked && <p className="muted pad">Untracked file: stage it to see it as a diff, or open it in the editor.</p>}
      {files && !untracked && files.length === 0 && !error && <p className="muted pad">No {sel.staged ? "staged" : "unstaged"} changes in this file.</p>}
      {files?.map((f) => (
        <FileDiffView key={f.path} file={f} split={split} />
      ))}
      {truncated && <p className="muted">Some of the diff was left out (too large).</p>}
    </div>
  );
}
