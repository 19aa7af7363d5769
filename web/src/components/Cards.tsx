// The transcript's pieces: messages, thinking, tool cards (command with output and exit code, file edit with a
// rendered diff, folded reads and searches), approvals and questions answered inline.
import { useState } from "react";
import { Api } from "../api/client";
import type { JsonValue } from "../api/types.gen";
import type { ApprovalCard, Item, QuestionCard, ToolCard } from "../transcript";
import { preview } from "../transcript";
import { errText } from "../util";

export function Diff({ diff }: { diff: string }) {
  return (
    <pre className="diff" aria-label="diff">
      {diff.split("\n").map((line, i) => {
        const cls = line.startsWith("+++") || line.startsWith("---") ? "meta" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
        return (
          <span key={i} className={cls}>
            {line}
            {"\n"}
          </span>
        );
      })}
    </pre>
  );
}

const ICON: Record<string, string> = { command: "$", file_edit: "✎", file_read: "📄", search: "🔍", web: "🌐", mcp: "⚙", other: "•" };

export function Tool({ card }: { card: ToolCard }) {
  const [open, setOpen] = useState(card.tool === "command" || card.tool === "file_edit");
  const hasBody = !!(card.output || card.diff);
  return (
    <div className={`tool tool-${card.tool} ts-${card.status}`} data-testid={`tool-${card.tool}`}>
      <button type="button" className="tool-head" onClick={() => setOpen(!open)} aria-expanded={open}>
        <span className="icon" aria-hidden="true">
          {ICON[card.tool] ?? "•"}
        </span>
        <span className="tool-name">{card.name}</span>
        <span className="tool-title">{card.title}</span>
        <span className={`pill ts ts-${card.status}`}>{card.status.replace(/_/g, " ")}</span>
        {card.exitCode != null && <span className={`exit ${card.exitCode === 0 ? "ok" : "bad"}`}>exit {card.exitCode}</span>}
      </button>
      {open && (
        <div className="tool-body">
          {card.diff ? <Diff diff={card.diff} /> : null}
          {card.output && !card.diff ? <pre className="output">{preview(card.output, 20000)}</pre> : null}
          {!hasBody && <pre className="output muted">{preview(card.input, 2000)}</pre>}
        </div>
      )}
    </div>
  );
}

export function ToolGroup({ cards }: { cards: ToolCard[] }) {
  const reads = cards.filter((c) => c.tool === "file_read").length;
  const searches = cards.length - reads;
  const parts = [reads && `${reads} file${reads > 1 ? "s" : ""} read`, searches && `${searches} search${searches > 1 ? "es" : ""}`].filter(Boolean);
  return (
    <details className="tool-group">
      <summary>{parts.join(", ")}</summary>
      {cards.map((c) => (
        <Tool key={c.key} card={c} />
      ))}
    </details>
  );
}

function useDecide(sessionId: string, approvalId: string) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const decide = (decision: "allow" | "deny", message?: string) => {
    setBusy(true);
    setError(null);
    Api.decide(sessionId, approvalId, decision, message).then(
      () => setBusy(false),
      (e) => {
        setError(errText(e));
        setBusy(false);
      },
    );
  };
  return { error, busy, decide };
}

export function Approval({ sessionId, card }: { sessionId: string; card: ApprovalCard }) {
  const { error, busy, decide } = useDecide(sessionId, card.approvalId);
  const [reason, setReason] = useState("");
  const input = card.input as { [k: string]: JsonValue } | null;
  const content = typeof input?.content === "string" ? input.content : null;
  return (
    <div className={`approval ${card.resolution ? "done" : "open"}`} data-testid="approval">
      <div className="approval-head">
        <b>{card.resolution ? "Approval" : "Approval needed"}</b>: {card.tool} <span className="tool-title">{card.title}</span>
      </div>
      {content != null ? <pre className="output">{preview(content, 4000)}</pre> : <pre className="output muted">{preview(card.input, 2000)}</pre>}
      {card.resolution ? (
        <p className={`resolution r-${card.resolution}`}>
          {card.resolution.replace(/_/g, " ")}
          {card.message ? `: ${card.message}` : ""}
        </p>
      ) : (
        <div className="row wrap">
          <button type="button" className="primary" disabled={busy} onClick={() => decide("allow")}>
            Allow
          </button>
          <input aria-label="Reason for denying" placeholder="reason (optional)" value={reason} onChange={(e) => setReason(e.target.value)} />
          <button type="button" className="danger" disabled={busy} onClick={() => decide("deny", reason.trim() || undefined)}>
            Deny
          </button>
        </div>
      )}
      {error && <p className="error">{error}</p>}
    </div>
  );
}

function questionText(q: JsonValue): string[] {
  if (Array.isArray(q)) return q.flatMap((x) => questionText(x));
  if (q && typeof q === "object" && !Array.isArray(q)) {
    const o = q as { [k: string]: JsonValue };
    if (typeof o.question === "string") return [o.question];
    if (o.questions) return questionText(o.questions);
  }
  return [typeof q === "string" ? q : JSON.stringify(q)];
}

export function Question({ sessionId, card }: { sessionId: string; card: QuestionCard }) {
  const { error, busy, decide } = useDecide(sessionId, card.approvalId);
  const [answer, setAnswer] = useState("");
  return (
    <div className={`approval question ${card.resolution ? "done" : "open"}`} data-testid="question">
      <div className="approval-head">
        <b>Question</b>
      </div>
      {questionText(card.questions).map((q, i) => (
        <p key={i}>{q}</p>
      ))}
      {card.resolution ? (
        <p className={`resolution r-${card.resolution}`}>{card.message ? `Answered: ${card.message}` : card.resolution}</p>
      ) : (
        <form
          className="row wrap"
          onSubmit={(e) => {
            e.preventDefault();
            decide("allow", answer);
          }}
        >
          <input aria-label="Answer" value={answer} onChange={(e) => setAnswer(e.target.value)} required placeholder="your answer" />
          <button type="submit" className="primary" disabled={busy}>
            Answer
          </button>
          <button type="button" disabled={busy} onClick={() => decide("deny")}>
            Decline
          </button>
        </form>
      )}
      {error && <p className="error">{error}</p>}
    </div>
  );
}

export function ItemView({ item, sessionId }: { item: Item; sessionId: string }) {
  switch (item.kind) {
    case "user":
      return (
        <div className="msg user" data-testid="user-message">
          {item.text}
        </div>
      );
    case "assistant":
      return (
        <div className={`msg assistant ${item.streaming ? "streaming" : ""}`} data-testid="assistant-message">
          {item.text}
        </div>
      );
    case "thinking":
      return (
        <details className="thinking">
          <summary>Thinking</summary>
          <p>{item.text}</p>
        </details>
      );
    case "tool":
      return <Tool card={item} />;
    case "tools":
      return <ToolGroup cards={item.cards} />;
    case "approval":
      return <Approval sessionId={sessionId} card={item} />;
    case "question":
      return <Question sessionId={sessionId} card={item} />;
    case "turn_end":
      return (
        <div className={`turn-end ${item.isError ? "bad" : ""}`} data-testid="turn-end">
          <span>
            {item.isError ? `Turn ended: ${item.reason ?? "error"}` : "Turn completed"}
            {item.usage ? ` · ${item.usage.input_tokens} in / ${item.usage.output_tokens} out` : ""}
            {item.usage?.cost_usd ? ` · $${item.usage.cost_usd.toFixed(4)}` : ""}
          </span>
        </div>
      );
    case "status":
      return (
        <div className="turn-end bad">
          Session {item.status}
          {item.message ? `: ${item.message}` : ""}
        </div>
      );
    case "error":
      return <p className="error">{item.message}</p>;
    case "note":
      return <div className={`turn-end${item.bad ? " bad" : ""}`} data-testid="run-note">{item.text}</div>;
    case "script":
      return (
        <details className={`tool script ${item.status}`} open={item.status !== "completed"} data-testid="script-card">
          <summary>
            {item.processKind === "setupscript" ? "Setup script" : item.processKind === "cleanupscript" ? "Cleanup script" : "Dev server"} · {item.status}
            {item.exitCode != null ? ` (exit ${item.exitCode})` : ""}
          </summary>
          {item.command && <pre className="command">{item.command}</pre>}
          <pre className="output" data-testid="script-output">{item.output || "(no output)"}</pre>
          {item.message && <p className="muted">{item.message}</p>}
        </details>
      );
  }
}
