// The data layer: lists the UI shows, kept current by the live channel's topics instead of timers. Each hook
// loads once, then reloads when main pushes a change of its topic (several changes in one frame cost one
// reload, and a change that arrives during a load causes one more load after it). While the socket is down it
// falls back to polling, and it reloads once when the socket comes back, since nothing was pushed meanwhile.
import { useEffect, useRef, useState } from "react";
import { Api, asProvider, asStatus } from "./client";
import { live, type BoardFrame, type LiveState, type TopicFrame } from "./live";
import type { ApprovalView, NodeView, SessionListQuery, SessionView, Topic, WorkspaceView } from "./types.gen";
import { Work } from "./work";
import { errText } from "../util";

/** How often a list is fetched while the live channel is down (and only then). */
export const FALLBACK_POLL_MS = 5000;

/** Lists polling right now (the live channel is down); the browser test reads it. */
let polling = 0;
function setPolling(delta: number) {
  polling += delta;
  (window as unknown as { __vbPolling?: number }).__vbPolling = polling;
}

export interface Live<T> {
  data: T | null;
  error: string | null;
  reload: () => void;
}

/**
 * `load`'s result, reloaded on every change of `topic`. `patch` may apply a frame to the current data in
 * place (return the new data) instead of a reload (return null).
 */
export function useLive<T>(
  topic: Topic,
  load: () => Promise<T>,
  deps: unknown[] = [],
  patch?: (data: T, frame: TopicFrame) => T | null,
): Live<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const patchRef = useRef(patch);
  patchRef.current = patch;
  const dataRef = useRef<T | null>(null);

  useEffect(() => {
    let alive = true;
    let loading = false;
    let again = false;
    let frame = 0;
    const run = () => {
      if (loading) {
        again = true;
        return;
      }
      loading = true;
      loadRef
        .current()
        .then((d) => {
          if (!alive) return;
          dataRef.current = d;
          setData(d);
          setError(null);
        })
        .catch((e) => alive && setError(errText(e)))
        .finally(() => {
          loading = false;
          if (alive && again) {
            again = false;
            run();
          }
        });
    };
    const soon = () => {
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          run();
        });
    };
    const onFrame = (f: TopicFrame) => {
      const current = dataRef.current;
      const patched = current !== null && f.type !== "resync" ? (patchRef.current?.(current, f) ?? null) : null;
      if (patched !== null) {
        dataRef.current = patched;
        setData(patched);
      } else soon();
    };
    let timer: number | undefined;
    const onState = (s: LiveState) => {
      if (s === "open") {
        if (timer !== undefined) {
          window.clearInterval(timer);
          timer = undefined;
          setPolling(-1);
          run();
        }
      } else if (timer === undefined) {
        timer = window.setInterval(run, FALLBACK_POLL_MS);
        setPolling(1);
      }
    };
    run();
    const unwatch = live.watch(topic, onFrame);
    const unState = live.onState(onState);
    onState(live.state);
    const visible = () => document.visibilityState === "visible" && run();
    document.addEventListener("visibilitychange", visible);
    return () => {
      alive = false;
      unwatch();
      unState();
      if (timer !== undefined) {
        window.clearInterval(timer);
        setPolling(-1);
      }
      if (frame) cancelAnimationFrame(frame);
      document.removeEventListener("visibilitychange", visible);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [topic, tick, ...deps]);
  return { data, error, reload: () => setTick((x) => x + 1) };
}

/** Every node the user may see; heartbeats are applied in place. */
export function useNodes(): Live<NodeView[]> {
  return useLive("nodes", () => Api.nodes(), [], (nodes, f) =>
    f.type === "node" && f.change === "heartbeat" && f.at
      ? nodes.map((n) => (n.id === f.node_id ? { ...n, last_heartbeat: f.at ?? n.last_heartbeat } : n))
      : null,
  );
}

/** Every pending approval and question the user may answer (the inbox and its badge). */
export function useApprovals(): Live<ApprovalView[]> {
  return useLive("approvals", () => Api.approvals());
}

/** The user's sessions (admins: all) matching `filters` (empty or unknown values filter nothing). */
export function useSessions(filters: { node?: string; provider?: string; status?: string }): Live<SessionView[]> {
  const query: SessionListQuery = {
    node: filters.node || undefined,
    provider: asProvider(filters.provider),
    status: asStatus(filters.status),
  };
  return useLive("sessions", () => Api.sessions(query), [filters.node, filters.provider, filters.status]);
}

/** Every user (admins). */
export function useUsers() {
  return useLive("users", () => Api.users());
}

/** The workspaces the user belongs to (admins: all). */
export function useWorkspaces(): Live<WorkspaceView[]> {
  return useLive("workspaces", () => Work.workspaces());
}

/** One workspace (`key`: its id or key prefix), reloaded when it changes. */
export function useWorkspace(key: string): Live<WorkspaceView> {
  return useLive("workspaces", () => Work.workspace(key), [key]);
}

/**
 * Hands `onFrame` the board changes of workspace `id` (null: none yet). A `resync` frame stands for "refetch":
 * main's own, one when the socket comes back, and one every FALLBACK_POLL_MS while it is down.
 */
export function useBoardFrames(id: string | null, onFrame: (frame: BoardFrame) => void) {
  const ref = useRef(onFrame);
  ref.current = onFrame;
  useEffect(() => {
    if (!id) return;
    const resync = () => ref.current({ type: "resync" });
    let timer: number | undefined;
    const onState = (s: LiveState) => {
      if (s === "open") {
        if (timer !== undefined) {
          window.clearInterval(timer);
          timer = undefined;
          setPolling(-1);
          resync();
        }
      } else if (timer === undefined) {
        timer = window.setInterval(resync, FALLBACK_POLL_MS);
        setPolling(1);
      }
    };
    const unwatch = live.watchBoard(id, (f) => ref.current(f));
    const unState = live.onState(onState);
    onState(live.state);
    return () => {
      unwatch();
      unState();
      if (timer !== undefined) {
        window.clearInterval(timer);
        setPolling(-1);
      }
    };
  }, [id]);
}
