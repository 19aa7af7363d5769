// The browser's live channel (`/api/v1/ws`): one WebSocket for the whole app, reconnecting with backoff.
// Each subscription remembers the last seq it delivered and resubscribes from there, and drops anything at or
// below it, so a reconnect (network loss, main restart) loses and doubles nothing. Topic watchers (see
// `data.ts`) hear what changed among approvals, nodes, sessions, users and workspaces; after a reconnect they
// refetch, since changes made while the socket was down were not pushed. Board watchers hear the task, comment,
// project and webhook changes of one workspace (the socket follows one at a time: the one watched last). The
// browser's presence (see `presence.ts`) goes first on every (re)connect; a socket that cannot connect has
// `reach` ask whether main is there at all.
import { probe, reportReach } from "./reach";
import type { ClientFrame, ServerFrame, SessionEvent, Topic } from "./types.gen";

type Listener = (ev: SessionEvent) => void;
/** A frame of one of the live topics; `resync` asks every watcher to refetch. */
export type TopicFrame = Extract<ServerFrame, { type: "approval" | "node" | "session" | "user" | "workspace" | "github" | "resync" }>;
type TopicListener = (frame: TopicFrame) => void;
/** A change on the watched workspace's board; `resync` asks to refetch. */
export type BoardFrame = Extract<
  ServerFrame,
  { type: "task" | "task_notes" | "projects" | "run" | "review_comments" | "pull_request" | "webhook" | "resync" }
>;
/** How often a tab showing a session says so again (main forgets it after 150 s without word). */
const PRESENCE_REFRESH_MS = 60_000;

/** What this browser shows (see `presence.ts`). */
export type PresenceFrame = Extract<ClientFrame, { type: "presence" }>;
type BoardListener = (frame: BoardFrame) => void;
interface BoardWatch {
  workspace: string;
  listener: BoardListener;
}

const TOPIC_OF: Record<Exclude<TopicFrame["type"], "resync">, Topic> = {
  approval: "approvals",
  node: "nodes",
  session: "sessions",
  user: "users",
  workspace: "workspaces",
  github: "github",
};
interface Sub {
  last: number;
  listener: Listener;
}

export type LiveState = "connecting" | "open" | "closed";

class LiveSocket {
  private ws: WebSocket | null = null;
  private subs = new Map<string, Sub>();
  private topics = new Map<Topic, Set<TopicListener>>();
  /** Board watchers, the last one's workspace followed. */
  private boards: BoardWatch[] = [];
  private backoff = 500;
  private timer: number | undefined;
  private stateListeners = new Set<(s: LiveState) => void>();
  /** What this browser shows, told to main on every (re)connect; the last one sent on this socket. */
  private presence: PresenceFrame | null = null;
  private presenceSent: string | null = null;
  private presenceTimer: ReturnType<typeof setInterval> | null = null;
  state: LiveState = "closed";

  private setState(s: LiveState) {
    this.state = s;
    (window as unknown as { __vbLive?: LiveState }).__vbLive = s;
    this.stateListeners.forEach((l) => l(s));
  }

  private wanted() {
    return this.subs.size > 0 || this.topics.size > 0 || this.boards.length > 0;
  }

  /** The workspace whose board the socket follows (the last watcher's). */
  private boardWorkspace(): string | undefined {
    return this.boards[this.boards.length - 1]?.workspace;
  }

  private sendWatch() {
    const workspace = this.boardWorkspace();
    this.send(workspace ? { type: "watch", topics: [...this.topics.keys()], workspace } : { type: "watch", topics: [...this.topics.keys()] });
  }

  onState(l: (s: LiveState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  private send(frame: ClientFrame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private sendPresence() {
    const text = this.presence && JSON.stringify(this.presence);
    if (!this.presence || text === this.presenceSent || this.ws?.readyState !== WebSocket.OPEN) return;
    this.send(this.presence);
    this.presenceSent = text;
  }

  /**
   * Tells main what this browser shows (`null`: stop telling): sent now if the socket is up and it changed, and
   * again on every reconnect. It does not open the socket by itself.
   */
  setPresence(frame: PresenceFrame | null) {
    this.presence = frame;
    this.sendPresence();
    // Main forgets a tab's session after PRESENCE_REFRESH_MS × 2.5 without word (a socket that died silently
    // must not keep silencing pushes): said again while a session shows.
    const showing = Boolean(frame?.session_id && frame.visible);
    if (showing && !this.presenceTimer) {
      this.presenceTimer = setInterval(() => {
        this.presenceSent = null;
        this.sendPresence();
      }, PRESENCE_REFRESH_MS);
    } else if (!showing && this.presenceTimer) {
      clearInterval(this.presenceTimer);
      this.presenceTimer = null;
    }
  }

  private connect() {
    if (this.ws || !this.wanted()) return;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${proto}://${location.host}/api/v1/ws`);
    this.ws = ws;
    let opened = false;
    this.setState("connecting");
    ws.onopen = () => {
      opened = true;
      this.backoff = 500;
      reportReach(true);
      this.presenceSent = null;
      this.sendPresence();
      for (const [id, sub] of this.subs) this.send({ type: "subscribe", session_id: id, after_seq: sub.last });
      if (this.topics.size > 0 || this.boards.length > 0) this.sendWatch();
      this.setState("open");
    };
    ws.onmessage = (m) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(m.data as string) as ServerFrame;
      } catch {
        return;
      }
      if (frame.type === "resync") {
        for (const set of this.topics.values()) set.forEach((l) => l(frame));
        [...this.boards].forEach((b) => b.listener(frame));
        return;
      }
      if (
        frame.type === "task" ||
        frame.type === "task_notes" ||
        frame.type === "projects" ||
        frame.type === "run" ||
        frame.type === "review_comments" ||
        frame.type === "pull_request" ||
        frame.type === "webhook"
      ) {
        // Listeners name the workspace by id or key prefix; the page checks the id it loaded.
        const followed = this.boardWorkspace();
        [...this.boards].filter((b) => b.workspace === followed).forEach((b) => b.listener(frame));
        return;
      }
      if (
        frame.type === "approval" ||
        frame.type === "node" ||
        frame.type === "session" ||
        frame.type === "user" ||
        frame.type === "workspace" ||
        frame.type === "github"
      ) {
        this.topics.get(TOPIC_OF[frame.type])?.forEach((l) => l(frame));
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
      if (!opened) void probe();
      if (!this.wanted()) return;
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

  /**
   * Hears the board changes of `workspace` (id or key prefix) while the socket is up; the socket follows the
   * workspace watched last. Returns the function that stops.
   */
  watchBoard(workspace: string, listener: BoardListener): () => void {
    const entry = { workspace, listener };
    const before = this.boardWorkspace();
    this.boards.push(entry);
    if (this.ws) {
      if (before !== workspace) this.sendWatch();
    } else this.connect();
    return () => {
      const i = this.boards.indexOf(entry);
      if (i < 0) return;
      const was = this.boardWorkspace();
      this.boards.splice(i, 1);
      if (this.boardWorkspace() !== was) this.sendWatch();
    };
  }

  /** Hears the changes of `topic` while the socket is up; returns the function that stops. */
  watch(topic: Topic, listener: TopicListener): () => void {
    let set = this.topics.get(topic);
    const fresh = !set;
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(listener);
    if (this.ws) {
      if (fresh) this.sendWatch();
    } else this.connect();
    return () => {
      const now = this.topics.get(topic);
      if (!now?.delete(listener) || now.size > 0) return;
      this.topics.delete(topic);
      this.sendWatch();
    };
  }
}

export const live = new LiveSocket();
