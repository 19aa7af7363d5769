// A workspace's usage: the tokens and cost of its runs' agent turns over a range of days, as a daily chart and
// rolled up by run, task, project, person, node or agent. Refreshed when a run of the workspace changes.
import { useCallback, useEffect, useState } from "react";
import type { UsageGroup, UsageReport } from "../../api/types.gen";
import { Work } from "../../api/work";
import { useBoardFrames, useWorkspace } from "../../api/data";
import { ErrorBanner, errText } from "../../util";
import { WorkspaceHead } from "./common";

const GROUPS: [UsageGroup, string][] = [
  ["run", "Run"],
  ["task", "Task"],
  ["project", "Project"],
  ["user", "Person"],
  ["node", "Node"],
  ["provider", "Agent"],
];

const day = (offset: number) => new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
const tokens = (n: number) => (n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n));

export function UsagePage({ wsKey }: { wsKey: string }) {
  const wsLive = useWorkspace(wsKey);
  const ws = wsLive.data;
  const [from, setFrom] = useState(day(29));
  const [to, setTo] = useState(day(0));
  const [group, setGroup] = useState<UsageGroup>("run");
  const [daily, setDaily] = useState<UsageReport | null>(null);
  const [rolled, setRolled] = useState<UsageReport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    setError(null);
    Work.usage({ workspace: wsKey, from, to, group_by: "day" }).then(setDaily, (e) => setError(errText(e)));
    Work.usage({ workspace: wsKey, from, to, group_by: group }).then(setRolled, (e) => setError(errText(e)));
  }, [wsKey, from, to, group]);
  useEffect(load, [load]);
  useBoardFrames(ws?.id ?? null, (f) => {
    if (f.type === "resync" || (f.type === "run" && f.run.status === "idle")) load();
  });
  if (!ws) return <section>{wsLive.error ? <ErrorBanner error={wsLive.error} /> : <p className="loading">Loading…</p>}</section>;
  const max = Math.max(1e-9, ...(daily?.rows ?? []).map((r) => r.usage.cost_usd || r.usage.input_tokens + r.usage.output_tokens));
  return (
    <section className="usage" data-testid="usage">
      <WorkspaceHead ws={ws} />
      <ErrorBanner error={error} />
      <div className="row">
        <label>
          From <input type="date" aria-label="From" value={from} onChange={(e) => setFrom(e.target.value)} />
        </label>
        <label>
          To <input type="date" aria-label="To" value={to} onChange={(e) => setTo(e.target.value)} />
        </label>
        {daily && (
          <span className="muted" data-testid="usage-total">
            {tokens(daily.total.input_tokens)} in · {tokens(daily.total.output_tokens)} out · ${daily.total.cost_usd.toFixed(2)} · {daily.total.turns} turns
          </span>
        )}
      </div>
      <div className="usage-chart" role="img" aria-label="Cost per day">
        {(daily?.rows ?? []).map((r) => {
          const v = r.usage.cost_usd || r.usage.input_tokens + r.usage.output_tokens;
          return (
            <div key={r.key} className="usage-bar" title={`${r.key}: $${r.usage.cost_usd.toFixed(4)}, ${r.usage.turns} turns`}>
              <span style={{ height: `${Math.max(2, (v / max) * 100)}%` }} />
              <small>{r.key.slice(5)}</small>
            </div>
          );
        })}
        {daily && daily.rows.length === 0 && <p className="muted">No agent turns in this range.</p>}
      </div>
      <div className="row">
        By
        <select aria-label="Group by" value={group} onChange={(e) => setGroup(e.target.value as UsageGroup)}>
          {GROUPS.map(([g, name]) => (
            <option key={g} value={g}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <table className="processes" data-testid="usage-rows">
        <thead>
          <tr>
            <th>{GROUPS.find(([g]) => g === group)?.[1]}</th>
            <th>Turns</th>
            <th>Input</th>
            <th>Output</th>
            <th>Cost</th>
          </tr>
        </thead>
        <tbody>
          {(rolled?.rows ?? []).map((r) => (
            <tr key={r.key}>
              <td>{r.label}</td>
              <td>{r.usage.turns}</td>
              <td>{tokens(r.usage.input_tokens)}</td>
              <td>{tokens(r.usage.output_tokens)}</td>
              <td>${r.usage.cost_usd.toFixed(4)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
