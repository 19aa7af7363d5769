// Small shared pieces: relative times, status pills, error banners, polling.
import { useEffect, useRef, useState } from "react";
import type { SessionStatus } from "./api/types.gen";

export function ago(iso: string | null | undefined): string {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return new Date(iso).toLocaleDateString();
}

export function StatusPill({ status }: { status: SessionStatus | string | null }) {
  if (!status) return null;
  return <span className={`pill st-${status}`}>{status.replace(/_/g, " ")}</span>;
}

export function ErrorBanner({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p className="error" role="alert">
      {error}
    </p>
  );
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Calls `load` now, every `ms`, and when the tab becomes visible again. */
/** The window event that asks every view of pending approvals (the inbox and its badge) to reload now. */
const APPROVALS_CHANGED = "vb:approvals-changed";

/** Says that an approval was requested or resolved, so the inbox badge follows at once, not at its next poll. */
export function approvalsChanged() {
  window.dispatchEvent(new Event(APPROVALS_CHANGED));
}

/** Calls `f` (at most once per animation frame) whenever {@link approvalsChanged} is announced. */
export function useApprovalsChanged(f: () => void) {
  const ref = useRef(f);
  ref.current = f;
  useEffect(() => {
    let frame = 0;
    const on = () => {
      if (!frame)
        frame = requestAnimationFrame(() => {
          frame = 0;
          ref.current();
        });
    };
    window.addEventListener(APPROVALS_CHANGED, on);
    return () => {
      window.removeEventListener(APPROVALS_CHANGED, on);
      if (frame) cancelAnimationFrame(frame);
    };
  }, []);
}

export function usePoll<T>(load: () => Promise<T>, ms: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let alive = true;
    const run = () =>
      loadRef
        .current()
        .then((d) => alive && (setData(d), setError(null)))
        .catch((e) => alive && setError(errText(e)));
    run();
    const t = window.setInterval(run, ms);
    const vis = () => document.visibilityState === "visible" && run();
    document.addEventListener("visibilitychange", vis);
    return () => {
      alive = false;
      window.clearInterval(t);
      document.removeEventListener("visibilitychange", vis);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ms, tick, ...deps]);
  return { data, error, reload: () => setTick((x) => x + 1) };
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="small"
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => {
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        });
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}
