// Folds a session's events (in seq order) into what the transcript shows: messages, collapsed thinking, tool
// cards that carry their result, approvals and questions with their outcome, grouped per turn.
import type { JsonValue, ProcessKind, ProcessStatus, Resolution, SessionEvent, SessionStatus, ToolKind, ToolStatus, Usage } from "./api/types.gen";

export interface ToolCard {
  kind: "tool";
  key: string;
  callId: string;
  name: string;
  tool: ToolKind;
  title: string;
  input: JsonValue;
  status: ToolStatus;
  output?: string | null;
  exitCode?: number | null;
  diff?: string | null;
}

export interface ApprovalCard {
  kind: "approval";
  key: string;
  approvalId: string;
  callId?: string | null;
  tool: string;
  toolKind: ToolKind;
  title: string;
  input: JsonValue;
  resolution?: Resolution;
  message?: string | null;
}

export interface QuestionCard {
  kind: "question";
  key: string;
  approvalId: string;
  questions: JsonValue;
  resolution?: Resolution;
  message?: string | null;
}

/** A run's setup or cleanup script: its output as it streams, then how it ended. */
export interface ScriptCard {
  kind: "script";
  key: string;
  process: number;
  processKind: ProcessKind;
  command?: string | null;
  output: string;
  status: ProcessStatus;
  exitCode?: number | null;
  message?: string | null;
}

export type Item =
  | { kind: "user"; key: string; text: string }
  | { kind: "assistant"; key: string; messageId: string; text: string; streaming: boolean }
  | { kind: "thinking"; key: string; text: string }
  | ToolCard
  | { kind: "tools"; key: string; cards: ToolCard[] } // folded reads and searches
  | ApprovalCard
  | QuestionCard
  | { kind: "turn_end"; key: string; isError: boolean; reason?: string | null; result?: string | null; usage?: Usage }
  | { kind: "status"; key: string; status: SessionStatus; message?: string | null }
  | ScriptCard
  | { kind: "note"; key: string; text: string; bad?: boolean }
  | { kind: "error"; key: string; message: string };

export interface Transcript {
  items: Item[];
  status: SessionStatus | null;
  statusMessage: string | null;
  lastSeq: number;
  usage: { input: number; output: number; cost: number };
  model: string | null;
  pending: number;
  /** The usage reported for the turn in progress: shown on its turn-end row. Kept across calls of `apply`, since a
   * turn's usage and its end can arrive in different batches of live events. */
  turnUsage: Usage | null;
}

export function emptyTranscript(): Transcript {
  return { items: [], status: null, statusMessage: null, lastSeq: 0, usage: { input: 0, output: 0, cost: 0 }, model: null, pending: 0, turnUsage: null };
}

const FOLDED: ToolKind[] = ["file_read", "search"];

/** Applies events to a transcript, returning a new one (the input is not changed). */
export function apply(t: Transcript, events: SessionEvent[]): Transcript {
  const items = t.items.slice();
  let { status, statusMessage, lastSeq, model, pending, turnUsage } = t;
  const usage = { ...t.usage };
  const findLast = (pred: (i: Item) => boolean): number => {
    for (let i = items.length - 1; i >= 0; i--) if (pred(items[i])) return i;
    return -1;
  };
  const updateTool = (callId: string, f: (c: ToolCard) => ToolCard) => {
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i];
      if (it.kind === "tool" && it.callId === callId) {
        items[i] = f(it);
        return true;
      }
      if (it.kind === "tools") {
        const j = it.cards.findIndex((c) => c.callId === callId);
        if (j >= 0) {
          const cards = it.cards.slice();
          cards[j] = f(cards[j]);
          items[i] = { ...it, cards };
          return true;
        }
      }
    }
    return false;
  };
  for (const ev of events) {
    if (ev.seq <= lastSeq) continue;
    lastSeq = ev.seq;
    const key = `e${ev.seq}`;
    switch (ev.type) {
      case "status":
        status = ev.status;
        statusMessage = ev.message ?? null;
        if (["failed", "stopped", "interrupted"].includes(ev.status)) {
          items.push({ kind: "status", key, status: ev.status, message: ev.message });
        }
        break;
      case "provider_session":
        model = ev.model ?? model;
        break;
      case "user_message":
        items.push({ kind: "user", key, text: ev.text });
        break;
      case "assistant_delta": {
        const i = findLast((x) => x.kind === "assistant" && x.messageId === ev.message_id && x.streaming);
        if (i >= 0) {
          const a = items[i] as Extract<Item, { kind: "assistant" }>;
          items[i] = { ...a, text: a.text + ev.text };
        } else items.push({ kind: "assistant", key, messageId: ev.message_id, text: ev.text, streaming: true });
        break;
      }
      case "assistant_message": {
        const i = findLast((x) => x.kind === "assistant" && x.messageId === ev.message_id && x.streaming);
        if (i >= 0) items[i] = { ...(items[i] as Extract<Item, { kind: "assistant" }>), text: ev.text, streaming: false };
        else items.push({ kind: "assistant", key, messageId: ev.message_id, text: ev.text, streaming: false });
        break;
      }
      case "thinking":
        items.push({ kind: "thinking", key, text: ev.text });
        break;
      case "tool_call": {
        const card: ToolCard = {
          kind: "tool",
          key,
          callId: ev.call_id,
          name: ev.name,
          tool: ev.kind,
          title: ev.title,
          input: ev.input,
          status: ev.status,
        };
        if (updateTool(ev.call_id, (c) => ({ ...c, status: ev.status, title: ev.title || c.title }))) break;
        const prev = items[items.length - 1];
        if (FOLDED.includes(ev.kind)) {
          if (prev?.kind === "tools") {
            items[items.length - 1] = { ...prev, cards: [...prev.cards, card] };
            break;
          }
          if (prev?.kind === "tool" && FOLDED.includes(prev.tool)) {
            items[items.length - 1] = { kind: "tools", key: prev.key, cards: [prev, card] };
            break;
          }
        }
        items.push(card);
        break;
      }
      case "tool_result":
        updateTool(ev.call_id, (c) => ({ ...c, status: ev.status, output: ev.output, exitCode: ev.exit_code, diff: ev.diff }));
        break;
      case "approval_requested":
        pending++;
        items.push({
          kind: "approval",
          key,
          approvalId: ev.approval_id,
          callId: ev.call_id,
          tool: ev.tool,
          toolKind: ev.kind,
          title: ev.title,
          input: ev.input,
        });
        break;
      case "question":
        pending++;
        items.push({ kind: "question", key, approvalId: ev.approval_id, questions: ev.questions });
        break;
      case "approval_resolved": {
        const i = findLast((x) => (x.kind === "approval" || x.kind === "question") && x.approvalId === ev.approval_id);
        if (i >= 0) {
          const it = items[i] as ApprovalCard | QuestionCard;
          if (!it.resolution) pending = Math.max(0, pending - 1);
          items[i] = { ...it, resolution: ev.resolution, message: ev.message };
        }
        break;
      }
      case "usage":
        usage.input += ev.input_tokens;
        usage.output += ev.output_tokens;
        usage.cost += ev.cost_usd ?? 0;
        turnUsage = ev;
        break;
      case "turn_completed":
        items.push({ kind: "turn_end", key, isError: ev.is_error, reason: ev.reason, result: ev.result, usage: turnUsage ?? undefined });
        turnUsage = null;
        break;
      case "error":
        items.push({ kind: "error", key, message: ev.message });
        break;
      case "run_prepared":
        items.push({
          kind: "note",
          key,
          text: `Working in ${ev.path} on ${ev.branch ?? "a detached HEAD"} (from ${ev.base_branch})${ev.carried_files ? `, ${ev.carried_files} uncommitted files carried in` : ""}`,
        });
        break;
      case "process_started":
        // An agent turn is the transcript itself; scripts get a card of their own.
        if (ev.kind !== "codingagent") items.push({ kind: "script", key, process: ev.process, processKind: ev.kind, command: ev.command, output: "", status: "running" });
        break;
      case "process_output": {
        const i = findLast((x) => x.kind === "script" && x.process === ev.process);
        if (i >= 0) {
          const c = items[i] as ScriptCard;
          items[i] = { ...c, output: c.output + ev.text };
        }
        break;
      }
      case "process_ended": {
        const i = findLast((x) => x.kind === "script" && x.process === ev.process);
        if (i >= 0) items[i] = { ...(items[i] as ScriptCard), status: ev.status, exitCode: ev.exit_code, message: ev.message };
        break;
      }
      case "auto_committed":
        items.push({ kind: "note", key, text: `Committed ${ev.files} file${ev.files === 1 ? "" : "s"} as ${ev.commit.slice(0, 10)}: ${ev.summary}` });
        break;
      case "auto_commit_failed":
        items.push({ kind: "note", key, text: ev.message, bad: true });
        break;
      case "raw":
        break;
    }
  }
  return { items, status, statusMessage, lastSeq, usage, model, pending, turnUsage };
}

/** Short text of a JSON value, for cards. */
export function preview(v: JsonValue, max = 400): string {
  const s = typeof v === "string" ? v : JSON.stringify(v, null, 2);
  return s.length > max ? s.slice(0, max) + "…" : s;
}
