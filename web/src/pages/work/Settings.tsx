// A workspace's settings: name, key prefix, the statuses' display names; export and import (a Vibe Kanban
// cloud ZIP, its local db.sqlite, or our own JSON; main tells them apart) with the import's report; delete with
// the name typed to confirm.
import { useState, type FormEvent } from "react";
import type { ImportReport, SettingsPatch, WorkspaceView } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useWorkspace } from "../../api/data";
import { navigate } from "../../router";
import { ErrorBanner, errText } from "../../util";
import { WorkspaceHead, canAdmin, statusName } from "./common";

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
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const patch: SettingsPatch = {};
    if (name.trim() !== ws.name) patch.name = name.trim();
    if (prefix.trim() !== ws.settings.key_prefix) patch.key_prefix = prefix.trim();
    const changed = names.filter((n) => n.name.trim() !== statusName(ws, n.status));
    if (changed.length) patch.status_names = changed.map((n) => ({ status: n.status, name: n.name.trim() }));
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
