// The page's side of the service worker (web/sw/sw.js: the app shell offline, push notifications): registered
// once the page has loaded, in builds only (`vite dev` has no sw.js), and asked by it to show a page (a clicked
// notification's), which the router does without a reload.
import { navigate } from "./router";

export function startServiceWorker() {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return;
  const container = navigator.serviceWorker;
  container.addEventListener("message", (e: MessageEvent) => {
    const msg = e.data as { type?: string; url?: unknown } | null;
    if (msg?.type === "navigate" && typeof msg.url === "string" && msg.url.startsWith("/") && !msg.url.startsWith("//")) navigate(msg.url);
  });
  container.startMessages();
  const register = () => {
    container.register("/sw.js").catch((e: unknown) => console.warn("service worker not registered:", e));
  };
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register, { once: true });
}
