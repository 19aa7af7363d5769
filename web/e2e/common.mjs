// What the browser end-to-end scripts share: headless Chromium ($VB_CHROMIUM, default Debian's), pages in
// contexts of their own (their own cookies) with page errors collected, screenshots numbered in order in the
// shots directory, and JSON requests to main's API made with a page's cookies.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** Starts Chromium for a script whose screenshots go to `shots`, its waits bounded by `timeout` ms, its pages
 * `viewport`-sized unless a page asks for another. */
export async function startE2e({ shots, timeout, viewport }) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.VB_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  const errors = [];
  let shot = 0;
  return {
    browser,
    /** Every uncaught error of every page. */
    errors,
    /** A new browser context (its own cookies) with a page, page errors collected. */
    async newPage(size = viewport) {
      const context = await browser.newContext({ viewport: size });
      const p = await context.newPage();
      p.setDefaultTimeout(timeout);
      p.on("pageerror", (e) => errors.push(String(e)));
      return p;
    },
    /** A screenshot of `on`, numbered after the previous ones. */
    async snap(on, name) {
      shot += 1;
      const file = join(shots, `${String(shot).padStart(2, "0")}-${name}.png`);
      await on.screenshot({ path: file, fullPage: false });
      console.error(`screenshot ${file}`);
    },
    /** A JSON request made by page `on` (its cookies); throws on a status other than `want`. */
    async call(on, method, path, body, want = 200) {
      const r = await on.evaluate(
        async ([m, p, b]) => {
          const resp = await fetch(`/api/v1${p}`, { method: m, headers: { "Content-Type": "application/json" }, body: b ? JSON.stringify(b) : undefined });
          return { status: resp.status, text: await resp.text() };
        },
        [method, path, body],
      );
      if (r.status !== want) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
      return r.text ? JSON.parse(r.text) : null;
    },
  };
}
