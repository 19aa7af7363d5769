// Workspaces: the header's switcher, and the page that lists them and creates one (name and key prefix).
import { useState, type FormEvent } from "react";
import { Work } from "../../api/work";
import { useWorkspaces } from "../../api/data";
import { Link, navigate, usePath } from "../../router";
import { ErrorBanner, errText } from "../../util";

/** The workspace in the path (`/w/WEB/...`), if any. */
export function currentWorkspaceKey(path: string): string | null {
  const m = /^\/w\/([^/]+)/.exec(path);
  return m ? decodeURIComponent(m[1]) : null;
}

/** A select of the user's workspaces; choosing one opens its board, "All workspaces…" the list. */
export function WorkspaceSwitcher() {
  const path = usePath();
  const list = useWorkspaces();
  const key = currentWorkspaceKey(path);
  const current = (list.data ?? []).find((w) => w.settings.key_prefix === key || w.id === key);
  return (
    <select
      aria-label="Workspace"
      data-testid="workspace-switcher"
      className="ws-switcher"
      value={current?.settings.key_prefix ?? ""}
      onChange={(e) => navigate(e.target.value ? `/w/${encodeURIComponent(e.target.value)}` : "/w")}
    >
      <option value="">{current ? "All workspaces…" : "Workspaces…"}</option>
      {(list.data ?? []).map((w) => (
        <option key={w.id} value={w.settings.key_prefix}>
          {w.name} ({w.settings.key_prefix})
        </option>
      ))}
    </select>
  );
}

export function WorkspacesPage() {
  const list = useWorkspaces();
  const [name, setName] = useState("");
  const [prefix, setPrefix] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    Work.createWorkspace({ name: name.trim(), key_prefix: prefix.trim() }).then(
      (w) => navigate(`/w/${encodeURIComponent(w.settings.key_prefix)}`),
      (err) => {
        setError(errText(err));
        setBusy(false);
      },
    );
  };
  return (
    <section>
      <h1>Workspaces</h1>
      <ErrorBanner error={list.error} />
      {list.data && list.data.length === 0 && <p className="muted">No workspace yet. Create one below.</p>}
      <ul className="list" aria-label="Workspaces">
        {(list.data ?? []).map((w) => (
          <li key={w.id}>
            <Link href={`/w/${encodeURIComponent(w.settings.key_prefix)}`} className="session-row">
              <span className="title">{w.name}</span>
              <span className="meta">
                <span className="tag">{w.settings.key_prefix}</span>
                <span>{w.role}</span>
                <span>
                  {w.members.length} member{w.members.length === 1 ? "" : "s"}
                </span>
              </span>
            </Link>
          </li>
        ))}
      </ul>
      <form className="card form ws-new" onSubmit={submit} aria-label="New workspace">
        <h2>New workspace</h2>
        <div className="grid2">
          <label>
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} placeholder="Web team" />
          </label>
          <label>
            Key prefix
            <input
              value={prefix}
              onChange={(e) => setPrefix(e.target.value.toUpperCase())}
              required
              pattern="[A-Z][A-Z0-9]{0,9}"
              title="1–10 capital letters or digits, starting with a letter"
              placeholder="WEB"
            />
          </label>
        </div>
        <p className="muted">Task keys are the prefix and a number: WEB-1, WEB-2…</p>
        <ErrorBanner error={error} />
        <button type="submit" className="primary" disabled={busy || !name.trim() || !prefix.trim()}>
          Create workspace
        </button>
      </form>
    </section>
  );
}
