// Sessions across nodes, newest first, filtered by node, provider and status (kept in the URL query).
import { useState } from "react";
import { STATUSES } from "../api/client";
import { Link } from "../router";
import { useNodes, useSessions } from "../api/data";
import { ErrorBanner, StatusPill, ago } from "../util";


export function SessionsPage() {
  const params = new URLSearchParams(location.search);
  const [node, setNode] = useState(params.get("node") ?? "");
  const [provider, setProvider] = useState(params.get("provider") ?? "");
  const [status, setStatus] = useState(params.get("status") ?? "");
  const sessions = useSessions({ node, provider, status });
  const nodes = useNodes();
  const set = (k: string, v: string, f: (v: string) => void) => {
    f(v);
    const q = new URLSearchParams(location.search);
    if (v) q.set(k, v);
    else q.delete(k);
    history.replaceState(null, "", `${location.pathname}${q.size ? `?${q}` : ""}`);
  };
  return (
    <section>
      <div className="page-head">
        <h1>Sessions</h1>
        <Link href="/sessions/new" className="button primary">
          New session
        </Link>
      </div>
      <div className="filters" role="search">
        <label className="inline">
          Node
          <select value={node} onChange={(e) => set("node", e.target.value, setNode)}>
            <option value="">all</option>
            {(nodes.data ?? []).map((n) => (
              <option key={n.id} value={n.id}>
                {n.name}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          Provider
          <select value={provider} onChange={(e) => set("provider", e.target.value, setProvider)}>
            <option value="">all</option>
            <option value="claude">claude</option>
            <option value="codex">codex</option>
          </select>
        </label>
        <label className="inline">
          Status
          <select value={status} onChange={(e) => set("status", e.target.value, setStatus)}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace(/_/g, " ")}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBanner error={sessions.error} />
      {sessions.data?.length === 0 && <p className="muted">No sessions{node || provider || status ? " match these filters" : " yet"}.</p>}
      <ul className="list">
        {(sessions.data ?? []).map((s) => (
          <li key={s.id}>
            <Link href={`/sessions/${s.id}`} className="session-row">
              <span className="title">{s.title}</span>
              <span className="meta">
                <StatusPill status={s.status} />
                {s.pending_approvals > 0 && <span className="badge">{s.pending_approvals}</span>}
                <span>{s.provider}</span>
                <span>
                  {s.node_id}
                  {!s.node_online && " (offline)"}
                </span>
                <span className="path">{s.path}</span>
                <span>{ago(s.updated_at)}</span>
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}
