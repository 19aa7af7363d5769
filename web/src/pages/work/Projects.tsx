// A workspace's projects: the list, and creating one: an online node → a directory browsed on it (a git work
// tree inside the node's roots) → base branch (default: the repository's current one) → scripts, files to copy
// into each run's worktree, and the branch template. Main checks the path on the node; its errors show as sent. Each
// project lists its worktrees on the node (with their runs; one made by hand can be adopted by a task's run).
import { useEffect, useState, type FormEvent } from "react";
import type { ConnectedRepo, GithubRepo, NewProject, Project, ProjectWorktree, RepoProject, WorkspaceView } from "../../api/types.gen";
import { DirPicker, NodeSelect } from "../../components/NodeDirPicker";
import { Api, Git } from "../../api/client";
import { Github } from "../../api/github";
import { Work } from "../../api/work";
import { GhError, RepoPicker } from "../../components/Github";
import { useConnectedRepos } from "./GithubRepos";
import { useBoardFrames, useNodes, useWorkspace } from "../../api/data";
import { ErrorBanner, ago, errText } from "../../util";
import { WorkspaceHead, canAdmin, canEdit, userName } from "./common";

export function ProjectsPage({ wsKey }: { wsKey: string }) {
  const wsLive = useWorkspace(wsKey);
  const ws = wsLive.data;
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const [ghRepos, setGhRepos] = useState<ConnectedRepo[]>([]);
  const load = () => ws && Work.projects(ws.id).then(setProjects, (e) => setError(errText(e)));
  const linked = (projects ?? []).some((p) => p.github_repo);
  useEffect(() => {
    if (ws && linked) Github.connected(ws.id).then(setGhRepos, () => setGhRepos([]));
  }, [ws?.id, linked, projects?.length]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => void load(), [ws?.id]);
  useBoardFrames(ws?.id ?? null, (f) => (f.type === "projects" || f.type === "resync") && void load());
  if (!ws) return <section>{wsLive.error ? <ErrorBanner error={wsLive.error} /> : <p className="loading">Loading…</p>}</section>;
  return (
    <section>
      <WorkspaceHead ws={ws}>
        {canEdit(ws) && !creating && (
          <button type="button" className="primary" onClick={() => setCreating(true)}>
            New project
          </button>
        )}
      </WorkspaceHead>
      <ErrorBanner error={error} />
      {creating && (
        <NewProjectForm
          ws={ws}
          onDone={(p) => {
            setCreating(false);
            if (p) void load();
          }}
        />
      )}
      {projects && projects.length === 0 && !creating && <p className="muted">No project yet.</p>}
      <div className="cards">
        {(projects ?? []).map((p) => (
          <article key={p.id} className="card node" data-testid="project">
            <header>
              <h2>{p.name}</h2>
              {p.github_repo && <GithubBadge repo={ghRepos.find((r) => r.id === p.github_repo)} />}
            </header>
            <dl>
              <dt>Node</dt>
              <dd>
                <code>{p.node_id}</code>
              </dd>
              <dt>Repository</dt>
              <dd className="path">{p.repo_path}</dd>
              <dt>Base branch</dt>
              <dd>{p.base_branch}</dd>
              <dt>Branches</dt>
              <dd>
                <code>{p.branch_template}</code>
              </dd>
              {p.scripts.setup && (
                <>
                  <dt>Setup</dt>
                  <dd>
                    <code>{p.scripts.setup}</code>
                  </dd>
                </>
              )}
              {p.scripts.dev && (
                <>
                  <dt>Dev</dt>
                  <dd>
                    <code>{p.scripts.dev}</code>
                  </dd>
                </>
              )}
              {p.copy_files.length > 0 && (
                <>
                  <dt>Copied files</dt>
                  <dd>{p.copy_files.join(", ")}</dd>
                </>
              )}
              <dt>Created</dt>
              <dd>
                {ago(new Date(p.created_at).toISOString())} by {userName(ws.members, p.created_by)}
              </dd>
            </dl>
            {canEdit(ws) && <Worktrees project={p} />}
            {canAdmin(ws) && (
              <button
                type="button"
                className="small danger"
                onClick={() =>
                  confirm(`Remove project ${p.name} from ${ws.name}? The repository on the node is not touched.`) &&
                  Work.deleteProject(p.id).then(() => void load(), (e) => setError(errText(e)))
                }
              >
                Remove
              </button>
            )}
          </article>
        ))}
      </div>
    </section>
  );
}

/** A project's GitHub repository: a badge linking to it. */
function GithubBadge({ repo }: { repo: ConnectedRepo | undefined }) {
  if (!repo)
    return (
      <span className="tag gh-badge" data-testid="project-github">
        GitHub
      </span>
    );
  return (
    <a className="tag gh-badge" href={repo.html_url} target="_blank" rel="noreferrer" data-testid="project-github" title="Its GitHub repository">
      GitHub: {repo.full_name}
    </a>
  );
}

/** Creating a project: from a directory on a node (a git work tree there) or from a GitHub repository. */
function NewProjectForm({ ws, onDone }: { ws: WorkspaceView; onDone: (p: Project | null) => void }) {
  const [mode, setMode] = useState<"dir" | "github">("dir");
  return (
    <div className="new-project-wrap">
      <div className="seg" role="group" aria-label="Create from">
        <button type="button" aria-pressed={mode === "dir"} onClick={() => setMode("dir")} data-testid="project-from-dir">
          From a directory
        </button>
        <button type="button" aria-pressed={mode === "github"} onClick={() => setMode("github")} data-testid="project-from-github">
          From GitHub
        </button>
      </div>
      {mode === "dir" ? <DirProjectForm ws={ws} onDone={onDone} /> : <GithubProjectForm ws={ws} onDone={onDone} />}
    </div>
  );
}

/**
 * A project cloned from one of the workspace's GitHub repositories (or connected through the picker here) into a
 * new directory on a node, or linked to an existing clone there.
 */
function GithubProjectForm({ ws, onDone }: { ws: WorkspaceView; onDone: (p: Project | null) => void }) {
  const nodes = useNodes();
  const online = (nodes.data ?? []).filter((n) => n.online);
  const { repos, error: reposError, add } = useConnectedRepos(ws);
  const [repoId, setRepoId] = useState("");
  const [picking, setPicking] = useState(false);
  const [connecting, setConnecting] = useState<number | null>(null);
  const [nodeId, setNodeId] = useState("");
  const [root, setRoot] = useState<string | null>(null);
  const [path, setPath] = useState("");
  const [pathTyped, setPathTyped] = useState(false);
  const [link, setLink] = useState(false);
  const [name, setName] = useState("");
  const [base, setBase] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const repo = repos?.find((r) => r.id === repoId) ?? null;
  useEffect(() => {
    if (!repoId && repos && repos.length > 0) setRepoId(repos[0].id);
  }, [repoId, repos]);
  useEffect(() => {
    setRoot(null);
    if (!nodeId) return;
    let live = true;
    Api.listDir(nodeId, null).then(
      (l) => live && setRoot(l.entries[0]?.path ?? null),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [nodeId]);
  // The path follows the repository and the node until it is typed.
  useEffect(() => {
    if (!pathTyped) setPath(repo && root ? `${root.replace(/\/+$/, "")}/${repo.name}` : "");
  }, [repo, root, pathTyped]);
  const pick = (r: GithubRepo) => {
    setConnecting(r.id);
    setError(null);
    Github.connectRepo(r.id, ws.id)
      .then(
        (c) => {
          add(c);
          setRepoId(c.id);
          setPicking(false);
        },
        setError,
      )
      .finally(() => setConnecting(null));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!repo) return;
    setBusy(true);
    setError(null);
    const body: RepoProject = { node_id: nodeId, path: path.trim() };
    if (link) body.link = true;
    if (name.trim()) body.name = name.trim();
    if (base.trim() && base.trim() !== repo.default_branch) body.base_branch = base.trim();
    Github.createProject(repo.id, body).then(onDone, (err) => {
      setError(err);
      setBusy(false);
    });
  };
  return (
    <form className="card form new-project" onSubmit={submit} aria-label="New project from GitHub">
      <h2>New project from GitHub</h2>
      <GhError error={reposError} />
      <label>
        Repository
        <select
          value={repoId}
          onChange={(e) => {
            if (e.target.value === "__pick") setPicking(true);
            else setRepoId(e.target.value);
          }}
          data-testid="gh-project-repo"
          required
        >
          {repos && repos.length === 0 && <option value="">no repository connected yet</option>}
          {(repos ?? []).map((r) => (
            <option key={r.id} value={r.id}>
              {r.full_name}
              {r.private ? " (private)" : ""}
            </option>
          ))}
          {canAdmin(ws) && <option value="__pick">Connect another repository…</option>}
        </select>
      </label>
      {canAdmin(ws) && !picking && (
        <div className="row">
          <button type="button" className="small" onClick={() => setPicking(true)} data-testid="gh-project-connect">
            Connect a repository
          </button>
        </div>
      )}
      {picking && <RepoPicker onPick={pick} onClose={() => setPicking(false)} busy={connecting} />}
      <NodeSelect online={online} nodeId={nodeId} setNodeId={setNodeId} />
      <label>
        {link ? "Existing clone" : "Clone into"}
        <input
          value={path}
          onChange={(e) => {
            setPath(e.target.value);
            setPathTyped(true);
          }}
          placeholder="an absolute path inside the node's roots"
          required
          className="path"
          data-testid="gh-project-path"
        />
        <span className="muted">{link ? "A clone of this repository already on the node (its origin must be it)." : "A new directory inside the node's roots; the repository is cloned there."}</span>
      </label>
      <label className="check">
        <input type="checkbox" checked={link} onChange={(e) => setLink(e.target.checked)} data-testid="gh-project-link" /> Use an existing clone
      </label>
      <div className="grid2">
        <label>
          Name (optional)
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder={repo?.name ?? "the repository's name"} />
        </label>
        <label>
          Base branch
          <input value={base} onChange={(e) => setBase(e.target.value)} placeholder={repo?.default_branch ?? "the default branch"} aria-label="Base branch" />
        </label>
      </div>
      <GhError error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !repo || !nodeId || !path.trim()} data-testid="gh-project-create">
          {busy ? (link ? "Creating…" : "Cloning…") : "Create project"}
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function DirProjectForm({ ws, onDone }: { ws: WorkspaceView; onDone: (p: Project | null) => void }) {
  const nodes = useNodes();
  const online = (nodes.data ?? []).filter((n) => n.online);
  const [nodeId, setNodeId] = useState("");
  const [path, setPath] = useState("");
  const [name, setName] = useState("");
  const [base, setBase] = useState("");
  const [setup, setSetup] = useState("");
  const [cleanup, setCleanup] = useState("");
  const [dev, setDev] = useState("");
  const [copy, setCopy] = useState("");
  const [template, setTemplate] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // The local branches of the directory chosen, when it is a repository, to pick the base branch from.
  const [branches, setBranches] = useState<string[]>([]);
  useEffect(() => {
    setBranches([]);
    if (!nodeId || !path.startsWith("/")) return;
    let live = true;
    Git.branches(nodeId, path).then(
      (b) => live && setBranches(b.branches.filter((x) => !x.remote).map((x) => x.name)),
      () => {},
    );
    return () => {
      live = false;
    };
  }, [nodeId, path]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: NewProject = { node_id: nodeId, repo_path: path.trim() };
    if (name.trim()) body.name = name.trim();
    if (base.trim()) body.base_branch = base.trim();
    if (setup.trim() || cleanup.trim() || dev.trim()) body.scripts = { setup: setup.trim(), cleanup: cleanup.trim(), dev: dev.trim() };
    const globs = copy.split(/[\n,]/).map((g) => g.trim()).filter(Boolean);
    if (globs.length) body.copy_files = globs;
    if (template.trim()) body.branch_template = template.trim();
    Work.createProject(ws.id, body).then(onDone, (err) => {
      setError(errText(err));
      setBusy(false);
    });
  };
  return (
    <form className="card form new-project" onSubmit={submit} aria-label="New project">
      <h2>New project</h2>
      <NodeSelect online={online} nodeId={nodeId} setNodeId={setNodeId} />
      <DirPicker nodeId={nodeId} path={path} setPath={setPath} legend="Repository" label="Repository path" onError={setError} />
      <div className="grid2">
        <label>
          Name (optional)
          <input value={name} onChange={(e) => setName(e.target.value)} placeholder="the directory's name" />
        </label>
        <label>
          Base branch (optional)
          <input value={base} onChange={(e) => setBase(e.target.value)} placeholder="the current branch" list="base-branches" />
          <datalist id="base-branches">
            {branches.map((b) => (
              <option key={b} value={b} />
            ))}
          </datalist>
        </label>
      </div>
      <details>
        <summary>Scripts, copied files, branch names</summary>
        <div className="form">
          <label>
            Setup script
            <textarea rows={2} value={setup} onChange={(e) => setSetup(e.target.value)} placeholder="npm ci" />
          </label>
          <label>
            Cleanup script
            <textarea rows={2} value={cleanup} onChange={(e) => setCleanup(e.target.value)} />
          </label>
          <label>
            Dev server script
            <textarea rows={2} value={dev} onChange={(e) => setDev(e.target.value)} placeholder="npm run dev" />
          </label>
          <label>
            Files to copy into each run (globs, one a line)
            <textarea rows={2} value={copy} onChange={(e) => setCopy(e.target.value)} placeholder=".env" />
          </label>
          <label>
            Branch template
            <input value={template} onChange={(e) => setTemplate(e.target.value)} placeholder="vb/{key}-{slug}" />
          </label>
        </div>
      </details>
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="primary" disabled={busy || !nodeId || !path.trim()}>
          Create project
        </button>
        <button type="button" onClick={() => onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The project's worktrees on its node: each with its run, or offered for adoption by a task's new run. */
function Worktrees({ project }: { project: Project }) {
  const [list, setList] = useState<ProjectWorktree[] | null>(null);
  const [task, setTask] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () => Work.worktrees(project.id).then(setList, (e) => setError(errText(e)));
  const adopt = (path: string) => {
    setError(null);
    Work.startRun(task.trim(), { project_id: project.id, mode: "existing", path }).then(
      (r) => {
        setNote(`${task.trim()} now runs in ${path} (run ${r.id.slice(0, 8)}).`);
        void load();
      },
      (e) => setError(errText(e)),
    );
  };
  if (!list)
    return (
      <button type="button" className="small" onClick={() => void load()}>
        Worktrees
      </button>
    );
  return (
    <div className="drawer-section" data-testid="worktrees">
      <h3>Worktrees</h3>
      <ErrorBanner error={error} />
      {note && <p className="notice">{note}</p>}
      <ul className="plain">
        {list.map((w) => (
          <li key={w.path} data-testid="worktree" data-path={w.path}>
            <code className="path">{w.path}</code> <span className="muted">{w.branch ?? "detached"}</span>
            {w.main && <span className="tag">working copy</span>}
            {w.missing && <span className="tag">missing</span>}
            {w.dirty_files > 0 && <span className="tag">{w.dirty_files} uncommitted</span>}
            {w.unique_commits > 0 && <span className="tag">{w.unique_commits} commits on no other branch</span>}
            {w.run_id ? (
              <span className="muted"> run {w.run_id.slice(0, 8)}</span>
            ) : (
              !w.main &&
              !w.missing && (
                <span className="row">
                  <input aria-label="Task to adopt it" placeholder="task key, e.g. WEB-3" value={task} onChange={(e) => setTask(e.target.value)} size={10} />
                  <button type="button" className="small" disabled={!task.trim()} onClick={() => adopt(w.path)}>
                    Adopt
                  </button>
                </span>
              )
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
