// The service worker, served as /sw.js (scope "/"). The build (vite.config.ts, `serviceWorker()`) writes it from
// this file with VERSION and FILES filled in. It keeps the app openable when main cannot be reached, and shows
// main's Web Push notifications:
// - install: "/" (the shell) and every file the build wrote, into a cache named after the build's version;
//   activate: other versions' caches deleted, open pages taken over.
// - fetch: the API, /health, writes and other origins are left to the browser. Everything else goes to the
//   network first (main serves fixed file names with `Cache-Control: no-cache`, so the newest wins) and comes
//   from the cache only when main cannot be reached; a page address then gets the cached shell.
// - push: main's JSON payload shown as a notification; an approval gets Allow and Deny buttons.
// - pushsubscriptionchange: the renewed subscription is given to main in place of the old one.
// - notificationclick: Allow or Deny answers the approval from here and replaces the notification with the
//   outcome; on failure, or any other click, the app opens at the notification's page. The browser test calls
//   `self.onNotificationClick(notification, action)` directly: headless Chromium cannot click a notification.

/** Filled in at build: a short hash of every file the build wrote and of this worker. */
const VERSION = "feb704c84cb2";
/** Filled in at build: "/" (the shell) and the path of every other file the build wrote. */
const FILES = [
  "/",
  "/app-Files.js",
  "/app-codemirror.js",
  "/app-lang-cpp.js",
  "/app-lang-css.js",
  "/app-lang-diff.js",
  "/app-lang-dockerfile.js",
  "/app-lang-go.js",
  "/app-lang-html.js",
  "/app-lang-java.js",
  "/app-lang-javascript.js",
  "/app-lang-json.js",
  "/app-lang-markdown.js",
  "/app-lang-python.js",
  "/app-lang-rust.js",
  "/app-lang-shell.js",
  "/app-lang-sql.js",
  "/app-lang-toml.js",
  "/app-lang-xml.js",
  "/app-lang-yaml.js",
  "/app.css",
  "/app.js",
  "/icons/apple-touch-icon.png",
  "/icons/badge-96.png",
  "/icons/favicon.png",
  "/icons/icon-192.png",
  "/icons/icon-512.png",
  "/icons/icon-maskable-512.png",
  "/manifest.webmanifest"
];
const CACHE = `vibebridge-${VERSION}`;
const ICON = "/icons/icon-192.png";
const BADGE = "/icons/badge-96.png";
/** How long the worker waits for main when answering an approval (the click's right to open a window is short). */
const ANSWER_TIMEOUT_MS = 8000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(FILES.map((path) => new Request(path, { cache: "no-cache" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("vibebridge-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Fetch

/** Whether a request is left to the browser: the API (and the live WebSocket), health checks, writes, other origins. */
function passThrough(request, url) {
  return (
    request.method !== "GET" ||
    url.origin !== self.location.origin ||
    url.pathname === "/health" ||
    url.pathname === "/api" ||
    url.pathname.startsWith("/api/")
  );
}

/** A proxy in front of main answering for it: main is down. */
const gatewayError = (response) => response.status >= 502 && response.status <= 504;

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (passThrough(event.request, url)) return;
  event.respondWith(event.request.mode === "navigate" ? page(event) : file(event, url));
});

/** A page address: main's answer (the shell, kept as "/"), or the cached shell when main cannot be reached. */
async function page(event) {
  const cache = await caches.open(CACHE);
  let response;
  try {
    response = await fetch(event.request);
  } catch (e) {
    const shell = await cache.match("/");
    if (shell) return shell;
    throw e;
  }
  if (gatewayError(response)) return (await cache.match("/")) ?? response;
  if (response.status === 200 && (response.headers.get("Content-Type") ?? "").startsWith("text/html")) {
    event.waitUntil(cache.put("/", response.clone()));
  }
  return response;
}

/** A file of the app: main's answer (the cache refreshed with it), or the cached copy when main cannot be reached. */
async function file(event, url) {
  const cache = await caches.open(CACHE);
  let response;
  try {
    response = await fetch(event.request);
  } catch (e) {
    const cached = await cache.match(url.pathname);
    if (cached) return cached;
    throw e;
  }
  if (gatewayError(response)) return (await cache.match(url.pathname)) ?? response;
  if (response.status === 200 && FILES.includes(url.pathname)) event.waitUntil(cache.put(url.pathname, response.clone()));
  return response;
}

// ---------------------------------------------------------------------------------------------------------------
// Push

self.addEventListener("push", (event) => {
  event.waitUntil(show(payloadOf(event.data)));
});

/** The push's payload as main sends it; a push without one (or not JSON) still shows, as plain text. */
function payloadOf(data) {
  try {
    const p = data?.json();
    if (p && typeof p.title === "string") return p;
  } catch {
    // not JSON: shown as text below
  }
  return {
    v: 1,
    id: "",
    kind: "test",
    title: "VibeBridge",
    body: data?.text() ?? "",
    tag: "",
    renotify: false,
    silent: false,
    url: "/",
    at: Date.now(),
    device: "",
    approval: null,
  };
}

/** Shows payload `p`, replacing any notification with its tag. Approvals and questions stay until answered. */
function show(p) {
  const approval = p.kind === "approval" && p.approval;
  return self.registration.showNotification(p.title, {
    body: p.body,
    tag: p.tag || undefined,
    renotify: Boolean(p.tag) && Boolean(p.renotify),
    silent: Boolean(p.silent),
    data: p,
    icon: ICON,
    badge: BADGE,
    timestamp: p.at,
    requireInteraction: p.kind === "approval" || p.kind === "question",
    actions: approval
      ? [
          { action: "allow", title: "Allow" },
          { action: "deny", title: "Deny" },
        ]
      : [],
  });
}

/** A silent notification in the place of `p`'s (same tag); clicking it opens `p`'s page. */
function replace(p, title, body) {
  return self.registration.showNotification(title, {
    body,
    tag: p.tag || undefined,
    silent: true,
    data: { ...p, kind: "resolved", approval: null },
    icon: ICON,
    badge: BADGE,
    timestamp: Date.now(),
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Clicks

self.addEventListener("notificationclick", (event) => {
  event.waitUntil(onNotificationClick(event.notification, event.action));
});

/**
 * What a click on `notification` does: `action` "allow" or "deny" on an approval answers it; anything else
 * opens the app at the notification's page. Only `notification.data` (the push payload) and `close()` are used.
 * Resolves to what it did: `{ answered, status, error, window }` — the decision sent (or null), main's HTTP
 * status (0: unreachable), main's error message, and "focused", "opened" or "refused" when it went for a window.
 */
async function onNotificationClick(notification, action) {
  const p = notification.data ?? {};
  const url = new URL(typeof p.url === "string" ? p.url : "/", self.location.origin);
  const path = url.origin === self.location.origin ? url.pathname + url.search + url.hash : "/";
  notification.close();
  if ((action === "allow" || action === "deny") && p.kind === "approval" && p.approval) {
    const outcome = await answer(p, action);
    if (outcome.ok) {
      await replace(p, `${action === "allow" ? "Allowed" : "Denied"}: ${p.title}`, p.body);
      return { answered: action, status: outcome.status, error: null, window: null };
    }
    const [opened] = await Promise.all([openApp(path), replace(p, p.title, `Could not answer: ${outcome.message} — tap to open`)]);
    return { answered: null, status: outcome.status, error: outcome.message, window: opened };
  }
  return { answered: null, status: null, error: null, window: await openApp(path) };
}
self.onNotificationClick = onNotificationClick;

/** `fetch` that gives up after ANSWER_TIMEOUT_MS. */
function fetchWithin(url, init) {
  return fetch(url, AbortSignal.timeout ? { ...init, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) } : init);
}

/** Sends `decision` for `p`'s approval as the user (their cookie), the access cookie refreshed once on a 401. */
async function answer(p, decision) {
  const { session_id, approval_id } = p.approval;
  const send = () =>
    fetchWithin(`/api/v1/sessions/${encodeURIComponent(session_id)}/approvals/${encodeURIComponent(approval_id)}`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ decision, device: p.device }),
    });
  try {
    let response = await send();
    if (response.status === 401) {
      const refreshed = await fetchWithin("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
      if (refreshed.ok) response = await send();
    }
    if (response.ok) return { ok: true, status: response.status };
    return { ok: false, status: response.status, message: await errorMessage(response) };
  } catch {
    return { ok: false, status: 0, message: "cannot reach the server" };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Renewed subscriptions

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(renew(event.oldSubscription, event.newSubscription).catch(() => undefined));
});

/**
 * The browser replaced this device's subscription (its push service rotated it): main is given the new one in
 * place of the old (`replaces`), so the device keeps its id and name. Without the old one main makes a new device.
 */
async function renew(old, fresh) {
  const sub = fresh ?? (old ? await self.registration.pushManager.subscribe(old.options) : null);
  if (!sub) return;
  const keys = sub.toJSON().keys ?? {};
  const body = JSON.stringify({
    endpoint: sub.endpoint,
    keys: { p256dh: keys.p256dh ?? "", auth: keys.auth ?? "" },
    ...(old?.endpoint ? { replaces: old.endpoint } : {}),
  });
  const send = () =>
    fetchWithin("/api/v1/push/subscriptions", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body });
  const response = await send();
  if (response.status === 401) {
    const refreshed = await fetchWithin("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
    if (refreshed.ok) await send();
  }
}

/** Main's message from an error answer (`{"error":{"code","message"}}`), else the HTTP status. */
async function errorMessage(response) {
  try {
    const body = await response.json();
    const message = body?.error?.message ?? body?.message;
    if (typeof message === "string" && message) return message;
  } catch {
    // not JSON (a proxy's page)
  }
  return `${response.status} ${response.statusText}`.trim();
}

/**
 * Brings the app to `path`: a window of it is focused and told to go there (the page's router moves, no reload),
 * else a new window opens. Browsers allow both only while a click is being handled: otherwise "refused".
 */
async function openApp(path) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const mine = windows.filter((c) => new URL(c.url).origin === self.location.origin);
  const client = mine.find((c) => c.focused) ?? mine.find((c) => c.visibilityState === "visible") ?? mine[0];
  if (!client) {
    try {
      return (await self.clients.openWindow(path)) ? "opened" : "refused";
    } catch {
      return "refused";
    }
  }
  let focused = true;
  try {
    await client.focus();
  } catch {
    focused = false;
  }
  const at = new URL(client.url);
  if (at.pathname + at.search + at.hash !== path) client.postMessage({ type: "navigate", url: path });
  return focused ? "focused" : "refused";
}
