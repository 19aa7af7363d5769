// Needs attention: every pending approval or question across nodes, oldest first, answerable in place.
import { useState } from "react";
import { Api } from "../api/client";
import type { ApprovalView } from "../api/types.gen";
import { Link } from "../router";
import { preview } from "../transcript";
import { ErrorBanner, ago, errText } from "../util";

export function InboxPage({ items, error, reload }: { items: ApprovalView[] | null; error: string | null; reload: () => void }) {
  return (
    <section>
      <h1>Inbox</h1>
      <ErrorBanner error={error} />
      {items?.length === 0 && <p className="muted">Nothing needs your attention.</p>}
      <ul className="list">
        {(items ?? []).map((a) => (
          <InboxItem key={a.approval_id} a={a} reload={reload} />
        ))}
      </ul>
    </section>
  );
}

function InboxItem({ a, reload }: { a: ApprovalView; reload: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState("");
  const ev = a.event;
  const isQuestion = a.kind === "question";
  const decide = (d: "allow" | "deny", message?: string) =>
    Api.decide(a.session_id, a.approval_id, d, message).then(reload, (e) => setError(errText(e)));
  return (
    <li className="card inbox-item" data-testid="inbox-item">
      <div className="row spread">
        <Link href={`/sessions/${a.session_id}`}>
          <b>{a.session_title || a.session_id}</b>
        </Link>
        <span className="muted">
          {a.node_id}
          {!a.node_online && " (offline)"} · {a.provider} · {ago(a.requested)}
        </span>
      </div>
      <p>
        {ev.type === "question" ? "Question: " : ev.type === "approval_requested" ? `${ev.tool}: ` : ""}
        <span className="tool-title">
          {ev.type === "question" ? preview(ev.questions, 300) : ev.type === "approval_requested" ? ev.title : ""}
        </span>
      </p>
      <div className="row wrap">
        {isQuestion ? (
          <>
            <input aria-label="Answer" value={text} onChange={(e) => setText(e.target.value)} placeholder="your answer" />
            <button type="button" className="primary" onClick={() => void decide("allow", text)} disabled={!text.trim()}>
              Answer
            </button>
            <button type="button" onClick={() => void decide("deny")}>
              Decline
            </button>
          </>
        ) : (
          <>
            <button type="button" className="primary" onClick={() => void decide("allow")}>
              Allow
            </button>
            <input aria-label="Reason for denying" value={text} onChange={(e) => setText(e.target.value)} placeholder="reason (optional)" />
            <button type="button" className="danger" onClick={() => void decide("deny", text.trim() || undefined)}>
              Deny
            </button>
          </>
        )}
      </div>
      <ErrorBanner error={error} />
    </li>
  );
}
