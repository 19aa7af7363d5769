// The browser's live channel (`/api/v1/ws`): one WebSocket for the whole app, reconnecting with backoff.
// Each subscription remembers the last seq it delivered and resubscribes from there, and drops anything at or
// below it, so a reconnect (network loss, main restart) loses and doubles nothing.
import type { ClientFrame, ServerFrame, SessionEvent } from "./types.gen";

type Listener = (ev: SessionEvent) => void;
interface Sub {
  last: number;
  listener: Listener;
}

export type LiveState = "connecting" | "open" | "closed";

class LiveSocket {
  private ws: WebSocket | null = null;
  private subs = new Map<string, Sub>();
  private backoff = 500;
  private timer: number | undefined;
  private stateListeners = new Set<(s: LiveState) => void>();
  state: LiveState = "closed";

  private setState(s: LiveState) {
    this.state = s;
    this.stateListeners.forEach((l) => l(s));
  }

  onState(l: (s: LiveState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  private send(frame: ClientFrame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private connect() {
    if (this.ws || this.subs.size === 0) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws`);
    this.ws = ws;
    this.setState("connecting");
    ws.onopen = () => {
      this.backoff = 500;
      this.setState("open");
      for (const [id, sub] of this.subs) this.send({ type: "subscribe", session_id: id, after_seq: sub.last });
    };
    ws.onmessage = (m) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(m.data as string) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type !== "event") {
        if (frame.type === "error") console.warn("live channel:", frame.message);
        return;
      }
      const sub = this.subs.get(frame.session_id);
      if (!sub || frame.event.seq <= sub.last) return;
      if (frame.event.seq !== sub.last + 1) {
        // A gap should never happen; ask again from what we have.
        this.send({ type: "subscribe", session_id: frame.session_id, after_seq: sub.last });
        return;
      }
      sub.last = frame.event.seq;
      sub.listener(frame.event);
    };
    ws.onclose = () => {
      this.ws = null;
      this.setState("closed");
      if (this.subs.size === 0) return;
      window.clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10_000);
    };
  }

  /** Follows a session from after `after`; returns the unsubscribe function. */
  subscribe(sessionId: string, after: number, listener: Listener): () => void {
    const sub = { last: after, listener };
    this.subs.set(sessionId, sub);
    if (this.ws) this.send({ type: "subscribe", session_id: sessionId, after_seq: after });
    else this.connect();
    return () => {
      if (this.subs.get(sessionId) !== sub) return;
      this.subs.delete(sessionId);
      this.send({ type: "unsubscribe", session_id: sessionId });
    };
  }
}

export const live = new LiveSocket();
