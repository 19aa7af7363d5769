// Notifications in a real browser, driven by tests/tests/browser_notify.rs against `vibebridge up` (with the real
// `claude` CLI pointed at the mock Anthropic API) and a local push service in the test: the app is installable
// (Chromium finds no installability errors), its service worker takes over the page; the device subscribes (with
// the push service's endpoint and keys, since headless Chromium has no push service of its own); a claude
// session asks an approval; the test hands the push it received (and decrypted) to the service worker with the
// DevTools protocol (`ServiceWorker.deliverPushMessage`), which shows it with Allow and Deny; Allow (the worker's
// click handler, called in the worker: headless Chromium cannot click a notification) answers the real approval
// with this browser's login, audited as from the device; main's "answered" push replaces the notification in
// place (one per session); quiet hours are saved from the notifications page; a webhook is added in workspace
// settings, its secret shown once, and its test delivery shows as delivered; main stops and the reloaded page
// still opens, saying it is offline.
//
// Lines on stdout tell the test what happened (`SESSION <id>`, `SECRET <webhook secret>`, `STOP_MAIN`, `DONE`); lines on stdin give the
// pushes (`PUSH <json>`) and say main stopped (`STOPPED`).
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const { VB_URL: URL, VB_REPO: REPO, VB_SHOTS: SHOTS } = process.env;
const { VB_PUSH_ENDPOINT: ENDPOINT, VB_PUSH_P256DH: P256DH, VB_PUSH_AUTH: AUTH, VB_HOOK_URL: HOOK_URL } = process.env;
if (!URL || !REPO || !SHOTS || !ENDPOINT || !P256DH || !AUTH || !HOOK_URL) {
  console.error("VB_URL, VB_REPO, VB_SHOTS, VB_PUSH_* and VB_HOOK_URL must be set (tests/tests/browser_notify.rs sets them)");
  process.exit(2);
}
const T = 90_000;
mkdirSync(SHOTS, { recursive: true });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/** The next stdin line starting with `word`, without it. */
async function expectLine(word) {
  const { value, done } = await lines.next();
  if (done || !value.startsWith(word)) throw new Error(`expected ${word} from the test, got ${done ? "the end" : value}`);
  return value.slice(word.length).trim();
}
/** Waits (up to T) until the async `check` (run here, in node) holds, looking again every 50 ms. Playwright's
 * `waitForFunction` cannot: an async predicate returns a promise, which counts as true at once. */
async function until(what, check) {
  const end = Date.now() + T;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
let shot = 0;
const snap = async (page, name) => {
  shot += 1;
  await page.screenshot({ path: join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`) });
};
const call = async (page, method, path, body, want = 200) => {
  const r = await page.evaluate(
    async ([m, p, b]) => {
      const resp = await fetch(`/api/v1${p}`, { method: m, headers: { "Content-Type": "application/json" }, body: b ? JSON.stringify(b) : undefined });
      return { status: resp.status, text: await resp.text() };
    },
    [method, path, body],
  );
  if (r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.text ? JSON.parse(r.text) : null;
};

// A persistent profile: Chromium reports an incognito context as not installable.
const context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "vb-notify-")), {
  executablePath: process.env.VB_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  viewport: { width: 1280, height: 900 },
});
const errors = [];
try {
  await context.grantPermissions(["notifications"], { origin: URL });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(T);
  page.on("pageerror", (e) => errors.push(String(e)));
  const cdp = await context.newCDPSession(page);
  const registrations = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
  await cdp.send("ServiceWorker.enable");

  // 1. The first account; the service worker takes over; the app is installable.
  await page.goto(URL);
  await page.getByRole("heading", { name: "Create the first account" }).waitFor();
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "correct horse battery");
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
  if (installabilityErrors.length) throw new Error(`not installable: ${JSON.stringify(installabilityErrors)}`);
  const manifest = await cdp.send("Page.getAppManifest");
  if (manifest.errors.length) throw new Error(`manifest errors: ${JSON.stringify(manifest.errors)}`);
  const registration = registrations.find((r) => !r.isDeleted && r.scopeURL === `${URL}/`);
  if (!registration) throw new Error(`no service worker registration for ${URL}/: ${JSON.stringify(registrations)}`);
  /** Hands push `payload` to the worker over DevTools until `check` holds. Under load Chromium sometimes drops
      a push delivered this way to a running, activated worker (seen in CI: nothing shown after 90 s, while the
      same push delivered again showed at once), so it is delivered again after each 100 looks that did not
      find it. A push carries its session's tag, so a second delivery replaces the first. */
  const deliver = async (what, payload, check) => {
    const push = () => cdp.send("ServiceWorker.deliverPushMessage", { origin: URL, registrationId: registration.registrationId, data: JSON.stringify(payload) });
    await push();
    let looks = 0;
    await until(what, async () => {
      if (await check()) return true;
      if (++looks % 100 === 0) await push();
      return false;
    });
  };

  // 2. This device subscribes (the test's push service in place of the browser's), as the notifications page
  // would after `pushManager.subscribe`; the page remembers its device.
  const device = await call(page, "POST", "/push/subscriptions", { endpoint: ENDPOINT, keys: { p256dh: P256DH, auth: AUTH }, name: "e2e Chromium" }, 201);
  await page.evaluate((id) => localStorage.setItem("vb.push.device", id), device.id);
  await page.goto(`${URL}/settings/notifications`);
  await page.getByText("e2e Chromium").first().waitFor();
  await snap(page, "notifications-settings");

  // 3. A claude session that asks before its command.
  const nodes = await call(page, "GET", "/nodes");
  const session = await call(page, "POST", "/sessions", {
    node_id: nodes[0].id,
    path: REPO,
    provider: "claude",
    permission_mode: "default",
    prompt: "Write it [[shell:printf 'pushed\\n' > pushed.txt]] [[text:Pushed.]]",
  }, 201);
  console.log(`SESSION ${session.id}`);

  // 4. The push the test received, delivered to the worker: a notification with Allow and Deny.
  const ask = JSON.parse(await expectLine("PUSH"));
  const shown = async () => page.evaluate(async (tag) => (await (await navigator.serviceWorker.ready).getNotifications({ tag })).map((n) => ({ title: n.title, body: n.body, actions: n.actions.map((a) => a.action) })), ask.tag);
  await deliver("the notification", ask, async () => (await shown()).length === 1);
  const [note] = await shown();
  if (note.title !== ask.title || note.actions.join() !== "allow,deny") throw new Error(`unexpected notification ${JSON.stringify(note)}`);
  console.log(`NOTIFIED ${note.title}`);

  // 5. Allow, as the notification's button: the worker answers with this browser's login.
  const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker"));
  const outcome = await worker.evaluate(async (tag) => {
    const [n] = await self.registration.getNotifications({ tag });
    return self.onNotificationClick(n, "allow");
  }, ask.tag);
  if (outcome.answered !== "allow" || outcome.status !== 200) throw new Error(`Allow failed: ${JSON.stringify(outcome)}`);
  console.log("ANSWERED");

  // 6. Main's "answered" push replaces the notification in place: still one for the session.
  const resolved = JSON.parse(await expectLine("PUSH"));
  await deliver("the notification replaced", resolved, async () => {
    const all = await shown();
    return all.length === 1 && all[0].title === resolved.title;
  });
  const everything = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).length);
  if (everything !== 1) throw new Error(`${everything} notifications, expected the session's one`);
  const audit = await call(page, "GET", "/audit");
  if (!audit.some((e) => e.action === "session.approval" && e.detail.includes(`from device "e2e Chromium" (${device.id})`))) {
    throw new Error(`the answer is not audited as from the device: ${JSON.stringify(audit.slice(0, 5))}`);
  }
  await page.goto(`${URL}/sessions/${session.id}`);
  await page.getByText("Pushed.").first().waitFor();
  await snap(page, "session-answered-from-notification");

  // 7. Preferences: quiet hours saved through the page.
  await page.goto(`${URL}/settings/notifications`);
  const prefs = page.locator("form[aria-label='What to notify about']");
  await prefs.getByTestId("notify-quiet").getByRole("checkbox").check();
  await prefs.getByLabel("Quiet hours start").fill("22:00");
  await prefs.getByLabel("Quiet hours end").fill("07:00");
  await prefs.getByLabel("Time zone").fill("Europe/Berlin");
  await prefs.getByTestId("notify-save").click();
  await prefs.getByRole("status").filter({ hasText: "Saved." }).waitFor();
  const saved = await call(page, "GET", "/notifications/prefs");
  if (JSON.stringify(saved.quiet_hours) !== JSON.stringify({ start: "22:00", end: "07:00", time_zone: "Europe/Berlin" })) {
    throw new Error(`quiet hours not saved: ${JSON.stringify(saved)}`);
  }
  await snap(page, "notification-preferences");

  // 8. A webhook in workspace settings: its secret shown once, "Send test", the delivery shown delivered live.
  await call(page, "POST", "/workspaces", { name: "Web", key_prefix: "WEB" });
  await page.goto(`${URL}/w/WEB/settings`);
  const hooks = page.getByTestId("webhooks");
  await hooks.getByTestId("webhook-add").click();
  const form = hooks.locator("form[aria-label='New webhook']");
  await form.getByLabel("Name").fill("Receiver");
  await form.getByLabel("URL").fill(HOOK_URL);
  await form.getByTestId("webhook-save").click();
  const secret = (await hooks.getByTestId("webhook-secret").locator("code").textContent()).trim();
  if (!secret.startsWith("whsec_")) throw new Error(`no secret shown: ${secret}`);
  console.log(`SECRET ${secret}`);
  await snap(page, "webhook-secret-once");
  await hooks.getByTestId("webhook-secret").getByRole("button", { name: "Done" }).click();
  await hooks.getByTestId("webhook-test").click();
  await hooks.getByTestId("webhook-deliveries").click();
  await hooks.locator("[data-testid=webhook-delivery][data-state=delivered]").first().waitFor();
  await snap(page, "webhook-delivered");
  const listed = await call(page, "GET", "/workspaces/WEB/webhooks");
  if (JSON.stringify(listed).includes(secret) || JSON.stringify(listed).includes(HOOK_URL)) {
    throw new Error("the webhook list shows its secret or URL");
  }

  // 9. Main stops: the page still opens from the worker's cache and says it is offline.
  console.log("STOP_MAIN");
  await expectLine("STOPPED");
  await page.reload();
  await page.getByRole("status").filter({ hasText: "Offline" }).first().waitFor();
  await snap(page, "offline-shell");

  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log("DONE");
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await context.close();
  process.stdin.destroy();
}
