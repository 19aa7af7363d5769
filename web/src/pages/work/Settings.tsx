// A workspace's settings: name, key prefix, the statuses' display names, run defaults and the prompt prefix; its prompt
// templates (written `@name` in descriptions); its webhooks (admins); export and import (a Vibe Kanban
// cloud ZIP, its local db.sqlite, or our own JSON; main tells them apart) with the import's report; delete with
// the name typed to confirm.
import { useEffect, useState, type FormEvent } from "react";
import type { ImportReport, PromptTemplate, SettingsPatch, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useWorkspace } from "../../api/data";
import { navigate } from "../../router";
import { ErrorBanner, errText } from "../../util";
import { Markdown, WorkspaceHead, canAdmin, statusName } from "./common";
import { GithubRepos } from "./GithubRepos";
import { Webhooks } from "./Webhooks";

export function SettingsPage({ wsKey }: { wsKey: string }) {
  const wsLive = useWorkspace(wsKey);
  const ws = wsLive.data;
  if (!ws) return <section>{wsLive.error ? <ErrorBanner error={wsLive.error} /> : <p className="loading">Loading…</p>}</section>;
  const admin = canAdmin(ws);
  return (
    <section>
      <WorkspaceHead ws={ws} />
      {!admin && <p className="muted">Only the workspace's admins change its settings.</p>}
      {admin && <General key={ws.id} ws={ws} />}
      {!admin && (
        <div className="card form">
          <h2>Prompt prefix</h2>
          {ws.settings.prompt_prefix ? <pre className="prompt-prefix">{ws.settings.prompt_prefix}</pre> : <p className="muted">None.</p>}
        </div>
      )}
      <Templates key={`templates-${ws.id}`} ws={ws} admin={admin} />
      <GithubRepos key={`github-${ws.id}`} ws={ws} />
      {admin && <Webhooks key={`webhooks-${ws.id}`} ws={ws} />}
      <div className="card form">
        <h2>Export</h2>
        <p className="muted">The whole workspace as one JSON document: members by name, projects, tasks, comments, activity.</p>
        <a className="button small" href={Work.exportUrl(ws.id)} download={`${ws.settings.key_prefix}.json`} data-testid="export">
          Export
        </a>
      </div>
      {admin && <Import ws={ws} />}
      {ws.role === "owner" && <Delete ws={ws} />}
    </section>
  );
}

function General({ ws }: { ws: WorkspaceView }) {
  const [name, setName] = useState(ws.name);
  const [prefix, setPrefix] = useState(ws.settings.key_prefix);
  const [names, setNames] = useState(ws.settings.status_names.map((s) => ({ ...s })));
  const [promptPrefix, setPromptPrefix] = useState(ws.settings.prompt_prefix);
  const [agent, setAgent] = useState({
    provider: ws.settings.agent.provider ?? "",
    model: ws.settings.agent.model ?? "",
    permission_mode: ws.settings.agent.permission_mode ?? "",
  });
  const [concurrency, setConcurrency] = useState(String(ws.settings.run_concurrency));
  const [commitMessage, setCommitMessage] = useState(ws.settings.run_commit_message);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const patch: SettingsPatch = {};
    if (name.trim() !== ws.name) patch.name = name.trim();
    if (prefix.trim() !== ws.settings.key_prefix) patch.key_prefix = prefix.trim();
    const changed = names.filter((n) => n.name.trim() !== statusName(ws, n.status));
    if (changed.length) patch.status_names = changed.map((n) => ({ status: n.status, name: n.name.trim() }));
    if (promptPrefix !== ws.settings.prompt_prefix) patch.prompt_prefix = promptPrefix;
    const nowAgent = {
      provider: agent.provider || undefined,
      model: agent.model.trim() || undefined,
      permission_mode: agent.permission_mode.trim() || undefined,
    };
    const was = ws.settings.agent;
    if ((was.provider ?? undefined) !== nowAgent.provider || (was.model ?? undefined) !== nowAgent.model || (was.permission_mode ?? undefined) !== nowAgent.permission_mode) {
      patch.agent = nowAgent;
    }
    const n = Number(concurrency);
    if (!Number.isInteger(n) || n < 0) {
      setError("Runs at once must be a whole number (0 for no limit).");
      return;
    }
    if (n !== ws.settings.run_concurrency) patch.run_concurrency = n;
    if (commitMessage.trim() !== ws.settings.run_commit_message) patch.run_commit_message = commitMessage.trim();
    setError(null);
    Work.updateWorkspace(ws.id, patch).then(
      (w) => {
        setSaved(true);
        if (w.settings.key_prefix !== ws.settings.key_prefix) navigate(`/w/${encodeURIComponent(w.settings.key_prefix)}/settings`, true);
      },
      (err) => setError(errText(err)),
    );
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="Settings">
      <h2>General</h2>
      <div className="grid2">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        </label>
        <label>
          Key prefix
          <input value={prefix} onChange={(e) => setPrefix(e.target.value.toUpperCase())} required pattern="[A-Z][A-Z0-9]{0,9}" />
        </label>
      </div>
      <fieldset className="picker">
        <legend>Status names</legend>
        <div className="grid2">
          {names.map((n, i) => (
            <label key={n.status}>
              <span className="muted">{n.status.replace(/_/g, " ")}</span>
              <input value={n.name} onChange={(e) => setNames(names.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)))} required />
            </label>
          ))}
        </div>
      </fieldset>
      <fieldset className="picker">
        <legend>Runs</legend>
        <div className="grid2">
          <label>
            Default agent
            <select value={agent.provider} onChange={(e) => setAgent({ ...agent, provider: e.target.value })} aria-label="Default agent">
              <option value="">Ask each time</option>
              <option value="claude">Claude Code</option>
              <option value="codex">Codex</option>
            </select>
          </label>
          <label>
            Model
            <input value={agent.model} onChange={(e) => setAgent({ ...agent, model: e.target.value })} placeholder="the CLI's default" />
          </label>
          <label>
            Permission mode
            <input value={agent.permission_mode} onChange={(e) => setAgent({ ...agent, permission_mode: e.target.value })} placeholder="the CLI's default" />
          </label>
          <label>
            Runs at once
            <input type="number" min={0} value={concurrency} onChange={(e) => setConcurrency(e.target.value)} aria-label="Runs at once" />
            <span className="muted">0: no limit; more runs wait, queued.</span>
          </label>
          <label>
            Turn commit message
            <input value={commitMessage} onChange={(e) => setCommitMessage(e.target.value)} required maxLength={500} aria-label="Turn commit message" />
            <span className="muted">What each turn's leftovers are committed as; {"{key}"}, {"{title}"} and {"{turn}"} are filled in.</span>
          </label>
        </div>
      </fieldset>
      <label>
        Prompt prefix
        <span className="muted">Put before every run's prompt in this workspace (Markdown).</span>
        <textarea rows={4} value={promptPrefix} onChange={(e) => setPromptPrefix(e.target.value)} placeholder="e.g. Follow the repository's STYLE.md." />
      </label>
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="primary">
          Save
        </button>
        {saved && <span className="muted">Saved.</span>}
      </div>
    </form>
  );
}

/** What a template name may be, as main checks it. */
const TEMPLATE_NAME = "[A-Za-z0-9_\\-]{1,64}";

/** The workspace's prompt templates: listed for everyone; added, edited and deleted by admins. */
function Templates({ ws, admin }: { ws: WorkspaceView; admin: boolean }) {
  const [list, setList] = useState<PromptTemplate[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [body, setBody] = useState("");
  const [name, setName] = useState("");
  const [newBody, setNewBody] = useState("");
  useEffect(() => {
    Work.templates(ws.id).then(setList, (e) => setError(errText(e)));
  }, [ws.id]);
  const done = (then: () => void) => (l: PromptTemplate[]) => {
    setList(l);
    setError(null);
    then();
  };
  const add = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n || !newBody.trim()) return;
    if (list?.some((t) => t.name === n) && !confirm(`Replace the template @${n}?`)) return;
    Work.setTemplate(ws.id, n, newBody).then(
      done(() => {
        setName("");
        setNewBody("");
      }),
      (err) => setError(errText(err)),
    );
  };
  const saveEdit = (e: FormEvent) => {
    e.preventDefault();
    if (!editing) return;
    Work.setTemplate(ws.id, editing, body).then(
      done(() => setEditing(null)),
      (err) => setError(errText(err)),
    );
  };
  const remove = (t: PromptTemplate) => {
    if (!confirm(`Delete the template @${t.name}?`)) return;
    Work.deleteTemplate(ws.id, t.name).then(
      done(() => {}),
      (err) => setError(errText(err)),
    );
  };
  return (
    <div className="card form" aria-label="Prompt templates" role="region">
      <h2>Prompt templates</h2>
      <p className="muted">Reusable text: writing @name in a task's description offers the template, and picking it puts its text in.</p>
      {!list && !error && <p className="loading">Loading…</p>}
      {list && list.length === 0 && <p className="muted">No templates yet.</p>}
      <ul className="plain templates" data-testid="templates">
        {(list ?? []).map((t) => (
          <li key={t.name} className="template" data-testid="template">
            <div className="row">
              <strong>@{t.name}</strong>
              <span className="grow" />
              {admin && editing !== t.name && (
                <>
                  <button
                    type="button"
                    className="link"
                    aria-label={`Edit @${t.name}`}
                    onClick={() => {
                      setEditing(t.name);
                      setBody(t.body);
                    }}
                  >
                    Edit
                  </button>
                  <button type="button" className="link" aria-label={`Delete @${t.name}`} onClick={() => remove(t)}>
                    Delete
                  </button>
                </>
              )}
            </div>
            {editing === t.name ? (
              <form className="form" onSubmit={saveEdit} aria-label={`Edit template @${t.name}`}>
                <textarea aria-label="Template text" rows={4} value={body} onChange={(e) => setBody(e.target.value)} required />
                <div className="row">
                  <button type="submit" className="small primary" disabled={!body.trim()}>
                    Save
                  </button>
                  <button type="button" className="small" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </div>
              </form>
            ) : (
              <Markdown source={t.body} />
            )}
          </li>
        ))}
      </ul>
      {admin && (
        <form className="form" onSubmit={add} aria-label="New template">
          <h3>Add a template</h3>
          <label>
            Template name
            <input value={name} onChange={(e) => setName(e.target.value)} required pattern={TEMPLATE_NAME} maxLength={64} placeholder="tests" />
          </label>
          <label>
            Template text
            <textarea rows={4} value={newBody} onChange={(e) => setNewBody(e.target.value)} required placeholder="Markdown" />
          </label>
          <button type="submit" className="primary small" disabled={!name.trim() || !newBody.trim()}>
            Add template
          </button>
        </form>
      )}
      <ErrorBanner error={error} />
    </div>
  );
}

function Import({ ws }: { ws: WorkspaceView }) {
  const [file, setFile] = useState<File | null>(null);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    setReport(null);
    Work.importFile(ws.id, file)
      .then(setReport, (err) => setError(errText(err)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="card form" onSubmit={submit} aria-label="Import">
      <h2>Import</h2>
      <p className="muted">A Vibe Kanban cloud export (.zip), a Vibe Kanban local database (db.sqlite), or a VibeBridge export (.json).</p>
      <input type="file" aria-label="File to import" accept=".zip,.sqlite,.db,.json,application/zip,application/json" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
      <ErrorBanner error={error} />
      <button type="submit" className="primary" disabled={!file || busy}>
        {busy ? "Importing…" : "Import"}
      </button>
      {report && (
        <div className="import-report" data-testid="import-report">
          <h3>Imported ({report.format})</h3>
          <p>
            {report.created.projects} projects, {report.created.tasks} tasks, {report.created.comments} comments, {report.created.activity} activity
            entries, {report.created.attachments} attachments.
          </p>
          {report.matched_people.length > 0 && <p>Matched people: {report.matched_people.join(", ")}</p>}
          {report.unmatched_people.length > 0 && <p className="warn">Not matched (left unassigned): {report.unmatched_people.join(", ")}</p>}
          {report.skipped.length > 0 && (
            <>
              <p>Skipped:</p>
              <ul>
                {report.skipped.map((s, i) => (
                  <li key={i}>
                    <strong>{s.item}</strong>: {s.reason}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
    </form>
  );
}

function Delete({ ws }: { ws: WorkspaceView }) {
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    Work.deleteWorkspace(ws.id, typed).then(() => navigate("/w"), (err) => setError(errText(err)));
  };
  return (
    <form className="card form danger-zone" onSubmit={submit} aria-label="Delete workspace">
      <h2>Delete the workspace</h2>
      <p>Its projects, tasks, comments and activity are deleted with it. Type its name, {ws.name}, to confirm.</p>
      <input aria-label="Workspace name to confirm" value={typed} onChange={(e) => setTyped(e.target.value)} />
      <ErrorBanner error={error} />
      <button type="submit" className="danger" disabled={typed !== ws.name}>
        Delete workspace
      </button>
    </form>
  );
}
