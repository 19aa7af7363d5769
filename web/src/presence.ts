// What this browser shows, told to main on the live channel (a `presence` frame) so that main pushes no
// notification to a device that already shows the session: this browser's push device (its id in localStorage
// `vb.push.device`, set by the notifications page), the session page open (if any), and whether the page is
// visible. `usePresence` (in the app shell) sends it whenever one of them changes; the live channel sends it
// again on every reconnect.
import { useEffect } from "react";
import { live } from "./api/live";
import { usePath } from "./router";

const DEVICE_KEY = "vb.push.device";
/** The session page's path, as App.tsx routes it. */
const SESSION_PAGE = /^\/sessions\/([0-9a-f-]{36})$/;

/** This browser's push device at main (what the notifications page subscribed), if any. */
export function pushDevice(): string | null {
  try {
    return localStorage.getItem(DEVICE_KEY);
  } catch {
    return null;
  }
}

/** Remembers this browser's push device (`null`: none) and tells main at once. */
export function setPushDevice(id: string | null) {
  try {
    if (id) localStorage.setItem(DEVICE_KEY, id);
    else localStorage.removeItem(DEVICE_KEY);
  } catch {
    // storage refused (private mode): this tab still tells main below
  }
  tell(id);
}

function tell(device = pushDevice()) {
  const session = SESSION_PAGE.exec(location.pathname)?.[1];
  live.setPresence({
    type: "presence",
    ...(device ? { device } : {}),
    ...(session ? { session_id: session } : {}),
    visible: document.visibilityState === "visible",
  });
}

/** Keeps main told what this browser shows while the app shell is mounted. */
export function usePresence() {
  const path = usePath();
  useEffect(() => tell(), [path]);
  useEffect(() => {
    const visibility = () => tell();
    // Another tab of this browser turned notifications on or off.
    const storage = (e: StorageEvent) => e.key === DEVICE_KEY && tell();
    document.addEventListener("visibilitychange", visibility);
    window.addEventListener("storage", storage);
    return () => {
      document.removeEventListener("visibilitychange", visibility);
      window.removeEventListener("storage", storage);
      live.setPresence(null);
    };
  }, []);
}
