// A workspace's GitHub repositories (in its settings): the ones connected, each with its open issues imported as
// tasks (into a project, optionally) and disconnected by admins; admins connect more through the repository picker.
import { useCallback, useEffect, useState } from "react";
import { Github } from "../../api/github";
import type { ConnectedRepo, GithubRepo, IssuesImported, Project, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames } from "../../api/data";
import { GhError, RepoPicker, repoSlug } from "../../components/Github";
import { canAdmin, canEdit } from "./common";

/** The workspace's connected repositories, reloaded on `resync`; `add` puts one just connected in. */
export function useConnectedRepos(ws: WorkspaceView) {
  const [repos, setRepos] = useState<ConnectedRepo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(
    () =>
      Github.connected(ws.id).then(
        (r) => {
          setRepos(r);
          setError(null);
        },
        setError,
      ),
    [ws.id],
  );
  useEffect(() => {
    void load();
  }, [load]);
  useBoardFrames(ws.id, (f) => f.type === "resync" && void load());
  const add = (r: ConnectedRepo) => setRepos((cur) => [...(cur ?? []).filter((x) => x.id !== r.id), r]);
  return { repos, error, load, add, setRepos };
}

export function GithubRepos({ ws }: { ws: WorkspaceView }) {
  const { repos, error, load, add, setRepos } = useConnectedRepos(ws);
  const [picking, setPicking] = useState(false);
  const [connecting, setConnecting] = useState<number | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [projects, setProjects] = useState<Project[]>([]);
  const admin = canAdmin(ws);
  useEffect(() => {
    Work.projects(ws.id).then(setProjects, () => setProjects([]));
  }, [ws.id]);
  const pick = (r: GithubRepo) => {
    setConnecting(r.id);
    setActionError(null);
    Github.connectRepo(r.id, ws.id)
      .then(
        (c) => {
          add(c);
          setPicking(false);
        },
        setActionError,
      )
      .finally(() => setConnecting(null));
  };
  const disconnect = (r: ConnectedRepo) => {
    if (!confirm(`Disconnect ${r.full_name} from ${ws.name}? Its projects stay, but no longer push or open pull requests there.`)) return;
    setActionError(null);
    Github.disconnectRepo(r.id).then(
      () => setRepos((cur) => (cur ?? []).filter((x) => x.id !== r.id)),
      setActionError,
    );
  };
  return (
    <div className="card form" role="region" aria-label="GitHub repositories" data-testid="gh-repos">
      <h2>GitHub repositories</h2>
      <p className="muted">Repositories this workspace works on: projects are cloned from them, runs push and open pull requests there, and their issues can become tasks.</p>
      <GhError error={error} />
      {!repos && !error && <p className="loading">Loading…</p>}
      {repos && repos.length === 0 && <p className="muted">No repository connected yet.</p>}
      {repos && repos.length > 0 && (
        <ul className="plain gh-connected">
          {repos.map((r) => (
            <ConnectedRow key={r.id} ws={ws} repo={r} projects={projects} admin={admin} onDisconnect={() => disconnect(r)} />
          ))}
        </ul>
      )}
      <GhError error={actionError} />
      {admin && !picking && (
        <div className="row">
          <button type="button" className="primary small" onClick={() => setPicking(true)} data-testid="gh-connect-repo">
            Connect a repository
          </button>
          <button type="button" className="small" onClick={() => void load()}>
            Refresh
          </button>
        </div>
      )}
      {!admin && <p className="muted">Only the workspace's admins connect and disconnect repositories.</p>}
      {picking && <RepoPicker onPick={pick} onClose={() => setPicking(false)} busy={connecting} />}
    </div>
  );
}

function ConnectedRow({
  ws,
  repo,
  projects,
  admin,
  onDisconnect,
}: {
  ws: WorkspaceView;
  repo: ConnectedRepo;
  projects: Project[];
  admin: boolean;
  onDisconnect: () => void;
}) {
  const [project, setProject] = useState("");
  const [report, setReport] = useState<IssuesImported | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const own = projects.filter((p) => p.github_repo === repo.id);
  useEffect(() => {
    if (!project && own.length === 1) setProject(own[0].id);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [own.length]);
  const importIssues = () => {
    setBusy(true);
    setError(null);
    setReport(null);
    Github.importIssues(repo.id, project ? { project_id: project } : {})
      .then(setReport, setError)
      .finally(() => setBusy(false));
  };
  return (
    <li className="gh-repo" data-testid={`gh-connected-${repoSlug(repo.full_name)}`}>
      <div className="row wrap">
        <a href={repo.html_url} target="_blank" rel="noreferrer">
          <strong>{repo.full_name}</strong>
        </a>
        {repo.private && <span className="tag">private</span>}
        <span className="muted">default branch {repo.default_branch}</span>
        <span className="grow" />
        {canEdit(ws) && (
          <>
            <select aria-label={`Project for ${repo.full_name}'s issues`} value={project} onChange={(e) => setProject(e.target.value)}>
              <option value="">no project</option>
              {projects.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
            <button type="button" className="small" onClick={importIssues} disabled={busy} data-testid="gh-import-issues">
              {busy ? "Importing…" : "Import issues"}
            </button>
          </>
        )}
        {admin && (
          <button type="button" className="small danger" onClick={onDisconnect}>
            Disconnect
          </button>
        )}
      </div>
      <GhError error={error} />
      {report && (
        <p className="notice" data-testid="gh-import-report">
          {report.open} open issues read: {report.created.length} new tasks{report.created.length ? ` (${report.created.join(", ")})` : ""}
          {report.already ? `, ${report.already} imported before` : ""}.
        </p>
      )}
    </li>
  );
}
