// What Settings → GitHub says when GitHub stops taking calls, in a real browser, driven by a Rust test
// (tests/tests/browser_github.rs) that puts main's GitHub connection in that state first, against the fake GitHub:
// VB_PHASE=limited — GitHub's rate limit is spent: the page says so and until when;
// VB_PHASE=reconnect — GitHub refused the token: the page asks to reconnect with the reason, and pasting a new
// token ($VB_TOKEN) connects again.
// The last line printed is `DONE`. Inputs: VB_URL, VB_SHOTS, VB_PHASE, VB_TOKEN (reconnect), VB_CHROMIUM.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const URL = process.env.VB_URL;
const SHOTS = process.env.VB_SHOTS;
const PHASE = process.env.VB_PHASE;
const TOKEN = process.env.VB_TOKEN;
const BROWSER = process.env.VB_CHROMIUM || "/usr/bin/chromium";
if (!URL || !SHOTS || !["limited", "reconnect"].includes(PHASE) || (PHASE === "reconnect" && !TOKEN)) {
  console.error("VB_URL, VB_SHOTS and VB_PHASE (limited|reconnect) must be set, and VB_TOKEN for reconnect");
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });
const T = 120_000;

const browser = await chromium.launch({
  executablePath: BROWSER,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const errors = [];
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on("pageerror", (e) => errors.push(String(e)));

  await page.goto(URL);
  await page.getByRole("button", { name: "Log in" }).waitFor();
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "correct horse battery");
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();

  await page.goto(`${URL}/settings/github`);
  await page.getByTestId("gh-account").filter({ hasText: "octo" }).waitFor();
  if (PHASE === "limited") {
    const note = page.getByTestId("gh-rate-limited");
    await note.waitFor();
    const text = await note.textContent();
    if (!/rate limit/i.test(text)) throw new Error(`the rate-limit note says ${JSON.stringify(text)}`);
    await page.screenshot({ path: join(SHOTS, "01-rate-limited.png") });
  } else {
    const note = page.getByTestId("gh-reconnect");
    await note.waitFor();
    const text = await note.textContent();
    if (!/reconnect/i.test(text) || !/revoked or expired/.test(text)) {
      throw new Error(`the reconnect note says ${JSON.stringify(text)}`);
    }
    await page.screenshot({ path: join(SHOTS, "02-reconnect.png") });
    await page.getByTestId("gh-token-input").fill(TOKEN);
    await page.getByTestId("gh-token-save").click();
    await note.waitFor({ state: "detached" });
    await page.getByTestId("gh-account").filter({ hasText: "octo" }).waitFor();
    await page.screenshot({ path: join(SHOTS, "03-reconnected.png") });
  }
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log("DONE");
} catch (e) {
  console.error(`github-states (${PHASE}) failed: ${e.stack || e}`);
  if (page) await page.screenshot({ path: join(SHOTS, `failed-${PHASE}.png`) }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
