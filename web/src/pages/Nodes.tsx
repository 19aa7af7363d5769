// Nodes: online state and last heartbeat, labels, capabilities, providers with versions; add a node (one-time
// token and the copy-paste join command); revoke.
import { useState } from "react";
import { Api, type Me } from "../api/client";
import type { TokenView } from "../api/types.gen";
import { Link } from "../router";
import { useNodes } from "../api/data";
import { CopyButton, ErrorBanner, ago, errText } from "../util";

export function NodesPage({ me }: { me: Me }) {
  const nodes = useNodes();
  const [token, setToken] = useState<TokenView | null>(null);
  const [ttl, setTtl] = useState("1h");
  const [error, setError] = useState<string | null>(null);
  const addNode = () => {
    setError(null);
    Api.createToken(ttl).then(setToken, (e) => setError(errText(e)));
  };
  const revoke = (id: string) => {
    if (!confirm(`Revoke node ${id}? Its key is forgotten and its link cut now.`)) return;
    Api.revokeNode(id).then(nodes.reload, (e) => setError(errText(e)));
  };
  const isAdmin = me.role === "admin" || me.role === "creator";
  return (
    <section>
      <div className="page-head">
        <h1>Nodes</h1>
        <div className="row">
          <label className="inline">
            Token valid for
            <select value={ttl} onChange={(e) => setTtl(e.target.value)}>
              <option value="15m">15 minutes</option>
              <option value="1h">1 hour</option>
              <option value="1d">1 day</option>
              <option value="7d">7 days</option>
            </select>
          </label>
          <button type="button" className="primary" onClick={addNode}>
            Add a node
          </button>
        </div>
      </div>
      <ErrorBanner error={error ?? nodes.error} />
      {token && (
        <div className="card join" data-testid="join">
          <h2>Add a node</h2>
          <p>
            On the new machine, with <code>vibebridge-agent</code> installed, run this once (the token works one time, until{" "}
            {new Date(token.expires_at).toLocaleString()}):
          </p>
          <pre className="cmd">{token.join_command}</pre>
          <div className="row">
            <CopyButton text={token.join_command} label="Copy command" />
            <CopyButton text={token.token} label="Copy token only" />
            <button type="button" className="small" onClick={() => setToken(null)}>
              Done
            </button>
          </div>
          <p className="muted">Main's host key: {token.main_host_key}</p>
        </div>
      )}
      {nodes.data && nodes.data.length === 0 && <p className="muted">No nodes yet. Add one above.</p>}
      <div className="cards">
        {(nodes.data ?? []).map((n) => (
          <article key={n.id} className="card node" data-testid="node">
            <header>
              <span className={`dot ${n.online ? "on" : "off"}`} aria-hidden="true" />
              <h2>{n.name}</h2>
              <span className={`pill ${n.online ? "st-running" : "st-stopped"}`}>{n.online ? "online" : "offline"}</span>
            </header>
            {n.flag && (
              <p className="error" role="alert" data-testid="node-flag">
                {n.flag.kind === "cloned_key" ? "Cloned key: " : ""}
                {n.flag.message}
              </p>
            )}
            <dl>
              <dt>Id</dt>
              <dd>
                <code>{n.id}</code>
              </dd>
              <dt>Host</dt>
              <dd>
                {n.hostname ?? "?"} {n.os ? `(${n.os})` : ""}
              </dd>
              <dt>{n.online ? "Last heartbeat" : "Last seen"}</dt>
              <dd>{n.online ? ago(n.last_heartbeat) : ago(n.last_seen)}</dd>
              <dt>Providers</dt>
              <dd>{n.providers.length ? n.providers.map((p) => `${p.name} ${p.version ?? ""}`.trim()).join(", ") : "none found"}</dd>
              {n.labels.length > 0 && (
                <>
                  <dt>Labels</dt>
                  <dd>{n.labels.map((l) => <span key={l} className="tag">{l}</span>)}</dd>
                </>
              )}
              <dt>Capabilities</dt>
              <dd>{n.capabilities.map((c) => <span key={c} className="tag">{c}</span>)}</dd>
              <dt>Agent</dt>
              <dd>{n.agent_version ?? "?"}</dd>
              <dt>Owner</dt>
              <dd>
                {n.owner ?? "?"}
                {n.members.length ? ` (+ ${n.members.join(", ")})` : ""}
              </dd>
            </dl>
            <div className="row">
              <Link href={`/nodes/${encodeURIComponent(n.id)}/files`} className="button small" aria-label={`Files on ${n.name}`}>
                Files
              </Link>
              {(isAdmin || n.owner === me.username) && (
                <button type="button" className="danger small" onClick={() => revoke(n.id)}>
                  Revoke
                </button>
              )}
            </div>
          </article>
        ))}
      </div>
    </section>
  );
}
