// Saying so when main cannot be reached: a banner under the header while the browser is offline or requests and
// the live channel do not get through (gone as soon as one gets an answer), and the whole page when the app
// cannot even learn who is logged in (opened from the service worker's cache with main unreachable).
import { useEffect, useState } from "react";
import { onReach, probe, reachable } from "../api/reach";

/** Whether main can be reached, as far as the UI knows; re-renders when that changes. */
export function useReachable(): boolean {
  const [now, setNow] = useState(reachable);
  useEffect(() => {
    setNow(reachable());
    return onReach(setNow);
  }, []);
  return now;
}

const STALE = "What you see may be out of date, and nothing you change is saved until it is back.";

/**
 * The banner: shown while main cannot be reached, or always with `always`. Retry asks `/health` (`onRetry`
 * instead, when given); a request that succeeds in the meantime hides it too.
 */
export function OfflineBanner({ always = false, detail = STALE, onRetry }: { always?: boolean; detail?: string; onRetry?: () => unknown }) {
  const ok = useReachable();
  const [trying, setTrying] = useState(false);
  if (ok && !always) return null;
  const retry = () => {
    setTrying(true);
    void Promise.resolve(onRetry ? onRetry() : probe()).finally(() => setTrying(false));
  };
  const why = navigator.onLine === false ? "this device has no network" : "VibeBridge cannot reach main";
  return (
    <div className="offline-banner" role="status" data-testid="offline">
      <span>
        <strong>Offline</strong>: {why}. {detail}
      </span>
      <button type="button" className="small" onClick={retry} disabled={trying}>
        {trying ? "Trying…" : "Retry"}
      </button>
    </div>
  );
}

/** The app when it cannot learn who is logged in: the banner; `retry` runs on Retry and when main answers again. */
export function OfflinePage({ retry }: { retry: () => Promise<void> }) {
  useEffect(() => onReach((ok) => ok && void retry()), [retry]);
  return (
    <div className="auth">
      <div className="card">
        <h1>VibeBridge</h1>
        <OfflineBanner always detail="Your sessions, approvals and boards show as soon as it answers again." onRetry={retry} />
      </div>
    </div>
  );
}
