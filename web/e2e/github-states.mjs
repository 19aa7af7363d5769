// What Settings → GitHub says when GitHub stops taking calls, in a real browser, driven by a Rust test
// (tests/tests/browser_github.rs) that puts main's GitHub connection in that state first, against the fake GitHub:
// VB_PHASE=limited — GitHub's rate limit is spent: the page says so and until when;
// VB_PHASE=reconnect — GitHub refused the token: the page asks to reconnect with the reason, and pasting a new
// token ($VB_TOKEN) connects again.
// The last line printed is `DONE`. Inputs: VB_URL, VB_SHOTS, VB_PHASE, VB_TOKEN (reconnect), VB_CHROMIUM.
import { startE2e } from "./common.mjs";

const URL = process.env.VB_URL;
const SHOTS = process.env.VB_SHOTS;
const PHASE = process.env.VB_PHASE;
const TOKEN = process.env.VB_TOKEN;
if (!URL || !SHOTS || !["limited", "reconnect"].includes(PHASE) || (PHASE === "reconnect" && !TOKEN)) {
  console.error("VB_URL, VB_SHOTS and VB_PHASE (limited|reconnect) must be set, and VB_TOKEN for reconnect");
  process.exit(2);
}
const T = 120_000;
const e2e = await startE2e({ shots: SHOTS, timeout: T, viewport: { width: 1280, height: 900 } });
const { browser, errors } = e2e;
let page;
try {
  page = await e2e.newPage();

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
    await e2e.snap(page, "rate-limited");
  } else {
    const note = page.getByTestId("gh-reconnect");
    await note.waitFor();
    const text = await note.textContent();
    if (!/reconnect/i.test(text) || !/revoked or expired/.test(text)) {
      throw new Error(`the reconnect note says ${JSON.stringify(text)}`);
    }
    await e2e.snap(page, "reconnect");
    await page.getByTestId("gh-token-input").fill(TOKEN);
    await page.getByTestId("gh-token-save").click();
    await note.waitFor({ state: "detached" });
    await page.getByTestId("gh-account").filter({ hasText: "octo" }).waitFor();
    await e2e.snap(page, "reconnected");
  }
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log("DONE");
} catch (e) {
  console.error(`github-states (${PHASE}) failed: ${e.stack || e}`);
  if (page) await e2e.snap(page, `failed-${PHASE}`).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
