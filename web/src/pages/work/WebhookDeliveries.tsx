// A webhook's delivery log (newest first): when, which event, its state and attempts, what the receiver last
// answered (status, error, the start of its body, how long it took), when main tries again, and Retry for a
// delivery that failed. Refetched whenever the webhook's row changes (its live frame) or a test was sent.
import { useCallback, useEffect, useState } from "react";
import { Notify } from "../../api/notify";
import type { DeliveryResponse, DeliveryState, Webhook, WebhookDelivery } from "../../api/types.gen";
import { ErrorBanner, errText } from "../../util";

/** How much of a receiver's answer the table shows (the cell's title has all main kept). */
const BODY_EXCERPT = 160;

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "—");

export function DeliveryPill({ state }: { state: DeliveryState }) {
  return <span className={`pill delivery-${state}`}>{state}</span>;
}

export function Deliveries({ hook, refresh }: { hook: Webhook; refresh: number }) {
  const [list, setList] = useState<WebhookDelivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [retrying, setRetrying] = useState<string | null>(null);
  const load = useCallback(
    () =>
      Notify.deliveries(hook.id).then(
        (l) => {
          setList(l);
          setError(null);
        },
        (e) => setError(errText(e)),
      ),
    [hook.id],
  );
  useEffect(() => {
    void load();
  }, [load, hook, refresh]);
  const retry = (d: WebhookDelivery) => {
    setRetrying(d.id);
    setError(null);
    Notify.retry(hook.id, d.id)
      .then(
        (now) => setList((cur) => cur?.map((x) => (x.id === now.id ? now : x)) ?? cur),
        (e) => setError(errText(e)),
      )
      .finally(() => setRetrying(null));
  };
  return (
    <div className="deliveries" data-testid="webhook-delivery-log">
      <ErrorBanner error={error} />
      {!list && !error && <p className="loading">Loading…</p>}
      {list && list.length === 0 && <p className="muted">Nothing delivered yet.</p>}
      {list && list.length > 0 && (
        <div className="table-wrap">
          <table className="deliveries-table">
            <thead>
              <tr>
                <th>Time</th>
                <th>Event</th>
                <th>State</th>
                <th>Attempts</th>
                <th>Last response</th>
                <th>Next attempt</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((d) => (
                <tr key={d.id} data-testid="webhook-delivery" data-state={d.state}>
                  <td>{when(d.created_at)}</td>
                  <td>{d.event.replace(/_/g, " ")}</td>
                  <td>
                    <DeliveryPill state={d.state} />
                  </td>
                  <td>{d.attempts}</td>
                  <td>{d.last_response ? <Answer r={d.last_response} /> : <span className="muted">none yet</span>}</td>
                  <td>{when(d.next_attempt_at)}</td>
                  <td>
                    {d.state === "failed" && (
                      <button type="button" className="small" onClick={() => retry(d)} disabled={retrying === d.id}>
                        Retry
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

/** What the receiver answered: its status (or why there was none), how long it took, the start of its body. */
function Answer({ r }: { r: DeliveryResponse }) {
  const body = r.body.trim();
  return (
    <div className="delivery-response" title={`at ${when(r.at)}`}>
      <span className={r.status && r.status < 300 ? "ok-text" : "error-text"}>{r.status ? `HTTP ${r.status}` : "no answer"}</span>{" "}
      <span className="muted">{r.duration_ms} ms</span>
      {r.error && <div className="error-text">{r.error}</div>}
      {body && (
        <pre className="delivery-body" title={body}>
          {body.length > BODY_EXCERPT ? `${body.slice(0, BODY_EXCERPT)}…` : body}
        </pre>
      )}
    </div>
  );
}
