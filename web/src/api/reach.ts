// Whether main can be reached, as the UI last saw it: not when the browser says it is offline, or when the last
// request (or the live channel) could not get through to main; yes again as soon as one does. Requests report
// every outcome; a live connection that fails asks `/health` (the socket cannot tell a refused login from no
// network). The offline banner (components/Offline.tsx) follows it. Nothing here runs until first used, so the
// unit tests can load the live channel without a browser.

type Listener = (reachable: boolean) => void;

const listeners = new Set<Listener>();
let failing = false;
let watching = false;
/** How long `/health` may take before main counts as unreachable. */
const PROBE_TIMEOUT_MS = 5000;

/** A status a proxy in front of main answers with when main is down (main's own errors carry its code). */
export const gatewayDown = (status: number) => status >= 502 && status <= 504;

const browserOnline = () => typeof navigator === "undefined" || navigator.onLine !== false;

/** Whether main can be reached, as far as the UI knows. */
export function reachable(): boolean {
  return browserOnline() && !failing;
}

function changed() {
  const now = reachable();
  (window as unknown as { __vbReachable?: boolean }).__vbReachable = now;
  listeners.forEach((l) => l(now));
}

/** One request's outcome: `ok` when main answered (whatever it said), false when it could not be reached. */
export function reportReach(ok: boolean) {
  if (failing !== ok) return;
  failing = !ok;
  changed();
}

/** Asks main's `/health` whether it answers; reports the outcome and returns it. */
export async function probe(): Promise<boolean> {
  let ok: boolean;
  try {
    const resp = await fetch("/health", { cache: "no-store", signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    ok = !gatewayDown(resp.status);
  } catch {
    ok = false;
  }
  reportReach(ok);
  return ok;
}

/** Calls `l` whenever reachability changes (the browser going on- or offline included); returns the stop function. */
export function onReach(l: Listener): () => void {
  if (!watching) {
    watching = true;
    window.addEventListener("offline", changed);
    window.addEventListener("online", () => {
      changed();
      void probe();
    });
  }
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
}
