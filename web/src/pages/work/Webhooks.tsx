// A workspace's webhooks (in its settings; admins only): where main posts the workspace's events — any URL as
// JSON (signed with an HMAC secret), a Slack incoming webhook, or an ntfy topic. Each shows its last delivery and
// what is still pending, kept current by the live `webhook` frames of the workspace's board (a frame without the
// webhook: deleted); it is enabled and disabled, tested, deleted, and opens its delivery log
// (WebhookDeliveries.tsx). A secret main made for a new webhook is shown once.
import { useCallback, useEffect, useState, type FormEvent } from "react";
import { useBoardFrames } from "../../api/data";
import { NOTICE_KINDS, Notify } from "../../api/notify";
import type { NoticeKind, Webhook, WebhookCreated, WebhookKind, WorkspaceView } from "../../api/types.gen";
import { CopyButton, ErrorBanner, ago, errText } from "../../util";
import { DeliveryPill, Deliveries } from "./WebhookDeliveries";

/** Each kind: what the UI calls it, an example URL, what the URL field says. */
const KINDS: Record<WebhookKind, { name: string; example: string; hint: string }> = {
  generic: { name: "Generic JSON", example: "https://example.com/hooks/vibebridge", hint: "Main POSTs each event to this URL as JSON." },
  slack: { name: "Slack", example: "https://hooks.slack.com/services/…", hint: "A Slack incoming webhook (in Slack: Apps → Incoming Webhooks)." },
  ntfy: { name: "ntfy", example: "https://ntfy.sh/my-topic", hint: "The topic's full URL, on ntfy.sh or your own ntfy server." },
};

/** The events a new webhook starts with: the workspace's own (a node going offline is its owner's business). */
const DEFAULT_EVENTS: NoticeKind[] = ["approval", "question", "run_finished", "run_failed", "task_in_review", "mention"];

/** The workspace's webhooks; a `webhook` frame replaces its row, `resync` reloads them all. */
function useWebhooks(ws: WorkspaceView) {
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(
    () =>
      Notify.webhooks(ws.id).then(
        (l) => {
          setHooks(l);
          setError(null);
        },
        (e) => setError(errText(e)),
      ),
    [ws.id],
  );
  const put = useCallback((w: Webhook) => {
    setHooks((cur) => {
      if (!cur) return cur;
      return cur.some((x) => x.id === w.id) ? cur.map((x) => (x.id === w.id ? w : x)) : [...cur, w];
    });
  }, []);
  const drop = (id: string) => setHooks((cur) => cur?.filter((x) => x.id !== id) ?? cur);
  useEffect(() => {
    void load();
  }, [load]);
  useBoardFrames(ws.id, (f) => {
    if (f.type === "resync") void load();
    else if (f.type === "webhook" && f.workspace_id === ws.id) {
      if (f.webhook) put(f.webhook);
      else drop(f.webhook_id);
    }
  });
  return { hooks, error, put, drop };
}

export function Webhooks({ ws }: { ws: WorkspaceView }) {
  const { hooks, error, put, drop } = useWebhooks(ws);
  const [adding, setAdding] = useState(false);
  const [created, setCreated] = useState<WebhookCreated | null>(null);
  return (
    <div className="card form" role="region" aria-label="Webhooks" data-testid="webhooks">
      <h2>Webhooks</h2>
      <p className="muted">
        Main posts this workspace's events to other services: any URL as JSON, a Slack channel, or an ntfy topic (notifications on a phone
        without VibeBridge).
      </p>
      <ErrorBanner error={error} />
      {!hooks && !error && <p className="loading">Loading…</p>}
      {hooks && hooks.length === 0 && <p className="muted">No webhooks yet.</p>}
      {hooks && hooks.length > 0 && (
        <ul className="plain webhooks">
          {hooks.map((w) => (
            <WebhookRow key={w.id} hook={w} onChange={put} onDeleted={() => drop(w.id)} />
          ))}
        </ul>
      )}
      {created && <SecretOnce created={created} onDone={() => setCreated(null)} />}
      {adding ? (
        <NewWebhook
          ws={ws}
          onCreated={(c) => {
            put(c.webhook);
            setCreated(c.secret ? c : null);
            setAdding(false);
          }}
          onCancel={() => setAdding(false)}
        />
      ) : (
        <div className="row">
          <button type="button" className="primary small" onClick={() => setAdding(true)} data-testid="webhook-add">
            Add a webhook
          </button>
        </div>
      )}
    </div>
  );
}

function WebhookRow({ hook, onChange, onDeleted }: { hook: Webhook; onChange: (w: Webhook) => void; onDeleted: () => void }) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  // Bumped after a test, so an open delivery log shows it.
  const [sent, setSent] = useState(0);
  const act = (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    what()
      .catch((e: unknown) => setError(errText(e)))
      .finally(() => setBusy(false));
  };
  const test = () =>
    act(() =>
      Notify.testWebhook(hook.id).then((d) => {
        const status = d.last_response?.status;
        setNote(`Test ${d.state === "pending" ? "queued" : d.state}${status ? ` (HTTP ${status})` : ""}.`);
        setSent((n) => n + 1);
      }),
    );
  const remove = () => {
    if (!confirm(`Delete the webhook ${hook.name}? Main stops posting to it, and its delivery log goes with it.`)) return;
    act(() => Notify.deleteWebhook(hook.id).then(onDeleted));
  };
  const last = hook.last_delivery;
  return (
    <li className="webhook" data-testid="webhook">
      <div className="row wrap">
        <strong>{hook.name}</strong>
        <span className="tag">{KINDS[hook.kind].name}</span>
        <code className="path">{hook.url_hint}</code>
        <span className="grow" />
        <label className="check">
          <input
            type="checkbox"
            checked={hook.enabled}
            disabled={busy}
            onChange={(e) => act(() => Notify.updateWebhook(hook.id, { enabled: e.target.checked }).then(onChange))}
            aria-label={`${hook.name} enabled`}
          />
          Enabled
        </label>
        <button type="button" className="small" onClick={test} disabled={busy} data-testid="webhook-test">
          Send test
        </button>
        <button type="button" className="small" onClick={() => setOpen(!open)} aria-expanded={open} data-testid="webhook-deliveries">
          Deliveries
        </button>
        <button type="button" className="small danger" onClick={remove} disabled={busy}>
          Delete
        </button>
      </div>
      <div className="meta">
        <span className="chips">
          {hook.events.length ? hook.events.map((e) => <span key={e} className="tag">{e.replace(/_/g, " ")}</span>) : <span className="warn">no events</span>}
        </span>
        <span data-testid="webhook-last">
          Last delivery:{" "}
          {last ? (
            <>
              <DeliveryPill state={last.state} />
              {last.last_response?.status ? ` HTTP ${last.last_response.status}` : ""} {ago(last.created_at)}
            </>
          ) : (
            "none yet"
          )}
        </span>
        {hook.pending > 0 && <span className="warn">{hook.pending} pending</span>}
        {!hook.enabled && <span className="muted">disabled</span>}
      </div>
      <ErrorBanner error={error} />
      {note && (
        <p className="notice" role="status">
          {note}
        </p>
      )}
      {open && <Deliveries hook={hook} refresh={sent} />}
    </li>
  );
}

/** A new webhook's secret, shown this once. */
function SecretOnce({ created, onDone }: { created: WebhookCreated; onDone: () => void }) {
  const secret = created.secret ?? "";
  return (
    <div className="notice ok-notice secret-once" role="status" data-testid="webhook-secret">
      <p>
        <strong>{created.webhook.name}</strong> was added. Its {created.webhook.kind === "ntfy" ? "access token" : "signing secret"}:
      </p>
      <div className="row wrap">
        <code className="secret">{secret}</code>
        <CopyButton text={secret} />
      </div>
      <p className="warn">Copy it now: main will not show it again.</p>
      <button type="button" className="small" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function NewWebhook({ ws, onCreated, onCancel }: { ws: WorkspaceView; onCreated: (c: WebhookCreated) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<WebhookKind>("generic");
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState(() => new Set<NoticeKind>(DEFAULT_EVENTS));
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (events.size === 0) return setError("Pick at least one event.");
    setError(null);
    setBusy(true);
    Notify.createWebhook(ws.id, {
      name: name.trim(),
      kind,
      url: url.trim(),
      events: NOTICE_KINDS.map(([k]) => k).filter((k) => events.has(k)),
      secret: kind !== "slack" && secret.trim() ? secret.trim() : undefined,
    })
      .then(onCreated, (err) => setError(errText(err)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="form new-webhook" onSubmit={submit} aria-label="New webhook">
      <h3>Add a webhook</h3>
      <div className="grid2">
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.target.value)} required maxLength={80} placeholder="Team channel" />
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.target.value as WebhookKind)} aria-label="Kind">
            {(Object.keys(KINDS) as WebhookKind[]).map((k) => (
              <option key={k} value={k}>
                {KINDS[k].name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label>
        URL
        <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder={KINDS[kind].example} spellCheck={false} />
        <span className="muted">{KINDS[kind].hint}</span>
      </label>
      <fieldset className="picker">
        <legend>Events</legend>
        <div className="check-list">
          {NOTICE_KINDS.map(([k, label]) => (
            <label key={k} className="inline">
              <input
                type="checkbox"
                checked={events.has(k)}
                onChange={(e) => {
                  const next = new Set(events);
                  if (e.target.checked) next.add(k);
                  else next.delete(k);
                  setEvents(next);
                }}
              />
              {label}
            </label>
          ))}
        </div>
      </fieldset>
      {kind !== "slack" && (
        <label>
          {kind === "ntfy" ? "Access token (optional)" : "Signing secret (optional)"}
          <input type="password" autoComplete="off" spellCheck={false} value={secret} onChange={(e) => setSecret(e.target.value)} />
          <span className="muted">
            {kind === "ntfy"
              ? "For a protected topic: an ntfy access token (tk_…), sent as a Bearer token."
              : "Main signs each delivery with it (X-VibeBridge-Signature-256, an HMAC-SHA256 of the timestamp and body). Leave it empty to have main make one, shown once."}
          </span>
        </label>
      )}
      <ErrorBanner error={error} />
      <div className="row">
        <button type="submit" className="primary small" disabled={busy} data-testid="webhook-save">
          Add webhook
        </button>
        <button type="button" className="small" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
