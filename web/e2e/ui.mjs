// The browser end-to-end run, driven by tests/tests/browser.rs against `vibebridge up` and the mock model API:
// register → the local node → add-node command → no polling while the live channel is up → start a Claude session that writes a file → approve it →
// the diff card and the final answer → reload mid-turn, nothing lost → the files page: edit, save (a conflict
// overwritten), git status and diff, profile, commit → a terminal runs `echo vb-$((6*7))`,
// resizes, survives a reload → the session on a phone-size viewport, light and dark. A screenshot of every step goes to
// $VB_SHOTS. Talks to the Rust side over stdio: prints `GATE name` / `RELEASE name`, waits for `OK`.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const URL = process.env.VB_URL;
const REPO = process.env.VB_REPO;
const SHOTS = process.env.VB_SHOTS;
const BROWSER = process.env.VB_CHROMIUM || "/usr/bin/chromium";
if (!URL || !REPO || !SHOTS) {
  console.error("VB_URL, VB_REPO and VB_SHOTS must be set (tests/tests/browser.rs sets them)");
  process.exit(2);
}
mkdirSync(SHOTS, { recursive: true });

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(cmd) {
  console.log(cmd);
  const { value } = await lines.next();
  if (value !== "OK") throw new Error(`${cmd}: the test answered ${value}`);
}

let shot = 0;
let page;
async function snap(name, on = page) {
  shot += 1;
  const file = join(SHOTS, `${String(shot).padStart(2, "0")}-${name}.png`);
  await on.screenshot({ path: file, fullPage: false });
  console.error(`screenshot ${file}`);
}

const T = 90_000; // the CLI starts in seconds, but the suite shares two cores
const browser = await chromium.launch({
  executablePath: BROWSER,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: URL });
  page = await context.newPage();
  page.setDefaultTimeout(T);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // 1. First visit: the creator signs up.
  await page.goto(URL);
  await page.getByRole("heading", { name: "Create the first account" }).waitFor();
  await snap("register");
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "correct horse battery");
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();

  // 2. The local node is online; adding a node shows a one-time join command.
  await page.getByRole("link", { name: "Nodes" }).click();
  await page.locator("[data-testid=node]", { hasText: "online" }).first().waitFor();
  await page.getByRole("button", { name: "Add a node" }).click();
  const joinCmd = await page.locator("[data-testid=join] pre.cmd").textContent();
  if (!joinCmd.includes("vibebridge-agent run") || !joinCmd.includes("--register-token vbn_")) throw new Error(`join command: ${joinCmd}`);
  await snap("nodes");

  // 2a. Lists follow the live channel's topics, not timers: with the socket up and nothing changing, no list
  // is fetched again. The window is longer than any period the UI ever polled at (3-5 s) or falls back to.
  await page.waitForFunction(() => window.__vbLive === "open" && window.__vbPolling === 0);
  const refetched = [];
  const onRequest = (r) => {
    const path = new URL(r.url()).pathname;
    if (r.method() === "GET" && /^\/api\/v1\/(nodes|approvals|sessions|users)$/.test(path)) refetched.push(path);
  };
  page.on("request", onRequest);
  await page.waitForTimeout(7000);
  page.off("request", onRequest);
  if (refetched.length) throw new Error(`lists polled while the live channel was up: ${refetched.join(", ")}`);

  // 2b. A second sign-up waits for approval until the creator approves it on the Users page.
  const bobContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const bob = await bobContext.newPage();
  bob.setDefaultTimeout(T);
  await bob.goto(URL);
  await bob.getByRole("button", { name: "Create an account instead" }).click();
  await bob.fill("input[name=username]", "bob");
  await bob.fill("input[name=password]", "bob password 1");
  await bob.click("button[type=submit]");
  await bob.getByRole("heading", { name: "Waiting for approval" }).waitFor();
  await snap("pending", bob);
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByRole("row", { name: /bob/ }).getByRole("button", { name: "Approve" }).click();
  await page.getByRole("row", { name: /bob/ }).getByRole("button", { name: "Approve" }).waitFor({ state: "detached" });
  await snap("users");
  await bob.getByRole("button", { name: "Check again" }).click();
  await bob.getByRole("heading", { name: "Sessions" }).waitFor();
  await bobContext.close();

  // 3. New session: browse the node to the repository, ask before edits, write a file.
  await page.getByRole("link", { name: "New session" }).click();
  await page.locator("ul.dirs button.dir").first().click(); // the root
  await page.getByRole("button", { name: "📁 ws" }).click();
  await page.waitForFunction(() => document.querySelector("input[aria-label=Directory]")?.value.endsWith("/ws"));
  await page.getByRole("button", { name: "↑ up" }).waitFor(); // the listing is inside ws now
  await page.getByLabel("Permission mode").selectOption("default");
  const target = `${REPO}/hello.txt`;
  await page
    .getByLabel("First prompt")
    .fill(`Please write it. [[tool:Write {"file_path": "${target}", "content": "hello from the browser\\n"}]] [[text:The file is written.]]`);
  await snap("new-session");
  await page.getByRole("button", { name: "Start session" }).click();
  await page.waitForURL(/\/sessions\/[0-9a-f-]{36}$/);
  const sessionUrl = page.url();

  // 4. The Write waits for approval, inline and in the inbox badge; allow it.
  const approval = page.locator("[data-testid=approval]", { hasText: "Approval needed" });
  await approval.waitFor();
  await page.locator("[data-testid=inbox-badge]", { hasText: "1" }).waitFor();
  await snap("approval");
  const inbox = await context.newPage();
  await inbox.goto(`${URL}/inbox`);
  await inbox.locator("[data-testid=inbox-item]", { hasText: "hello.txt" }).waitFor();
  await snap("inbox", inbox);
  await inbox.close();
  await approval.getByRole("button", { name: "Allow" }).click();

  // 5. The diff card and the final answer.
  await page.locator("[data-testid=tool-file_edit] pre.diff", { hasText: "+hello from the browser" }).waitFor();
  await page.locator("[data-testid=assistant-message]", { hasText: "The file is written." }).waitFor();
  await page.locator("[data-testid=turn-end]").first().waitFor();
  await page.locator("[data-testid=approval]", { hasText: "allowed" }).waitFor();
  await page.locator("[data-testid=inbox-badge]").waitFor({ state: "detached" });
  await snap("diff-and-answer");

  // 6. A second turn, held mid-way by the mock; reload; everything is still there; then it finishes.
  await page.getByLabel("Message").fill("Second question [[gate:second]] [[text:second answer]]");
  await page.getByRole("button", { name: "Send" }).click();
  await page.locator("[data-testid=user-message]", { hasText: "Second question" }).waitFor();
  await ask("GATE second");
  // The mock holds the turn, so main's event log stops growing. The transcript is read once the page shows
  // every event main has (late usage and status events included) and has rendered them: the same sequence
  // number and the same text on two polls in a row (a row renders a frame after its event arrives).
  const sessionId = sessionUrl.split("/").pop();
  const settled = async (atLeast) => {
    const deadline = Date.now() + 30_000;
    let prev = null;
    for (;;) {
      const lastSeq = await page.evaluate(async (id) => (await (await fetch(`/api/v1/sessions/${id}`)).json()).last_seq, sessionId);
      const cur = await page.evaluate(() => ({
        seq: Number(document.querySelector("[data-testid=last-seq]")?.textContent),
        text: document.querySelector("[data-testid=transcript]")?.innerText ?? "",
      }));
      if (cur.seq === lastSeq && cur.seq >= atLeast && prev && prev.seq === cur.seq && prev.text === cur.text) return cur;
      if (Date.now() > deadline) throw new Error(`the transcript never settled: page at ${cur.seq}, main at ${lastSeq}`);
      prev = cur;
      await page.waitForTimeout(100); // the polling interval, not a wait for readiness
    }
  };
  const before = await settled(0);
  await page.reload();
  await page.locator("[data-testid=user-message]", { hasText: "Second question" }).waitFor();
  const after = await settled(before.seq);
  const textBefore = before.text;
  const textAfter = after.text;
  for (const needle of ["Please write it.", "Write", "+hello from the browser", "The file is written.", "Second question"]) {
    if (!textAfter.includes(needle)) throw new Error(`after the reload the transcript lacks ${JSON.stringify(needle)}:\n${textAfter}`);
  }
  if (after.seq === before.seq) {
    if (textAfter.trim() !== textBefore.trim()) throw new Error(`transcript changed across the reload:\n--- before\n${textBefore}\n--- after\n${textAfter}`);
  } else {
    // Events arrived meanwhile (a late usage line): everything shown before is still there, in order.
    const lines = textAfter.split("\n");
    let at = 0;
    for (const line of textBefore.split("\n")) {
      while (at < lines.length && lines[at] !== line) at++;
      if (at === lines.length) throw new Error(`after the reload the transcript lost ${JSON.stringify(line)}:\n--- before\n${textBefore}\n--- after\n${textAfter}`);
      at++;
    }
  }
  await snap("reloaded-mid-turn");
  await ask("RELEASE second");
  await page.locator("[data-testid=assistant-message]", { hasText: "second answer" }).waitFor();
  await page.locator("[data-testid=turn-end]").nth(1).waitFor();
  await snap("second-turn-done");

  // 7. Files from the session: open the tracked README.md, edit it in CodeMirror; leaving asks first; a write from
  // elsewhere makes the save a conflict, overwritten; the git panel shows it modified with the added line in its
  // diff (and the session's hello.txt untracked); the profile is asked for once; stage all, commit, clean.
  await page.getByRole("link", { name: "Files", exact: true }).click();
  await page.waitForURL(/\/nodes\/[^/]+\/files\?path=/);
  const filesUrl = page.url();
  const readme = `${REPO}/README.md`;
  await page.getByTestId("file-tree").getByRole("button", { name: "hello.txt" }).waitFor();
  // The tree is keyboard-driven: arrows move between rows.
  await page.getByTestId("file-tree").getByRole("button", { name: "README.md" }).focus();
  await page.keyboard.press("ArrowUp");
  const focused = await page.evaluate(() => document.activeElement?.getAttribute("data-path"));
  if (!focused?.endsWith("/hello.txt")) throw new Error(`ArrowUp in the tree focused ${focused}`);
  await page.getByTestId("file-tree").getByRole("button", { name: "README.md" }).click();
  const editor = page.locator(`[data-testid=editor][data-path="${readme}"] .cm-content`);
  await editor.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("Edited in the browser.");
  await page.keyboard.press("Enter");
  await page.getByTestId("save-state").filter({ hasText: "Unsaved" }).waitFor();
  await page.getByTestId("editor-tab").filter({ hasText: "README.md" }).filter({ hasText: "●" }).waitFor();
  await snap("files-editing");
  let asked = null;
  page.once("dialog", (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await page.getByRole("link", { name: "Sessions", exact: true }).click();
  if (!asked?.includes("unsaved changes in README.md")) throw new Error(`leaving with unsaved edits asked ${JSON.stringify(asked)}`);
  if (!page.url().includes("/files?path=")) throw new Error(`left the files page with unsaved edits: ${page.url()}`);
  const put = await page.evaluate(async (path) => {
    const node = location.pathname.split("/")[2];
    const r = await fetch(`/api/v1/nodes/${node}/fs/write?path=${encodeURIComponent(path)}`, { method: "PUT", body: "# ws\nchanged elsewhere, longer\n" });
    return r.status;
  }, readme);
  if (put !== 200) throw new Error(`the concurrent write answered ${put}`);
  await editor.click();
  await page.keyboard.press("Control+s");
  await page.getByTestId("conflict").waitFor();
  await snap("files-conflict");
  await page.getByTestId("conflict").getByRole("button", { name: "Overwrite" }).click();
  await page.getByTestId("save-state").filter({ hasText: "Saved" }).waitFor();
  await page.getByRole("tab", { name: "Git" }).click();
  const changed = page.locator("[data-testid=git-group-changes] [data-testid=git-file][data-path='README.md']");
  await changed.waitFor();
  await page.locator("[data-testid=git-group-untracked] [data-testid=git-file][data-path='hello.txt']").waitFor();
  await changed.getByRole("button", { name: "README.md, modified" }).click();
  await page.locator("[data-testid=diff-pane] .diff-table tr.add", { hasText: "Edited in the browser." }).waitFor();
  const removed = await page.locator("[data-testid=diff-pane] .diff-table tr.del").count();
  if (removed !== 0) throw new Error(`the diff shows ${removed} removed lines; only one line was added`);
  await snap("git-diff");
  await page.getByRole("button", { name: "Split" }).click();
  await page.locator("[data-testid=diff-pane] table.split td.add", { hasText: "Edited in the browser." }).waitFor();
  await snap("git-diff-split");
  await page.getByRole("button", { name: "Unified" }).click();
  await page.getByRole("button", { name: "Stage all" }).click();
  await page.locator("[data-testid=git-group-staged] [data-testid=git-file]").nth(1).waitFor();
  const profile = page.getByTestId("profile-form");
  await profile.getByLabel("Name").fill("Alice Example");
  await profile.getByLabel("Email").fill("alice@example.com");
  await snap("git-profile");
  await profile.getByRole("button", { name: "Save profile" }).click();
  await page.getByTestId("commit-author").filter({ hasText: "Alice Example <alice@example.com>" }).waitFor();
  await page.getByLabel("Commit message").fill("Edit the README from the browser");
  await page.getByRole("button", { name: "Commit 2 files" }).click();
  await page.getByTestId("git-summary").filter({ hasText: "working tree clean" }).waitFor();
  await page.getByTestId("commit").first().filter({ hasText: "Edit the README from the browser" }).waitFor();
  if ((await page.getByTestId("commit").count()) !== 3) throw new Error("history should list the new commit, the README and the initial one");
  // Opening the commit in the history shows what it changed.
  await page.getByTestId("commit").first().getByRole("button").first().click();
  await page.locator("[data-testid=commit-changes] .diff-table tr.add", { hasText: "Edited in the browser." }).waitFor();
  await page.locator("[data-testid=commit-changes]", { hasText: "hello.txt" }).waitFor();
  await snap("git-committed");

  // 7b. Files from the Nodes page: the node's roots; a root made the top of the tree is no git repository;
  // a new file is created, saved, renamed and deleted there.
  await page.getByRole("link", { name: "Nodes", exact: true }).click();
  await page.getByRole("link", { name: /^Files on / }).first().click();
  const rootItem = page.getByTestId("file-tree").locator("button.tree-item").first();
  await rootItem.click();
  await page.getByTestId("file-tree").getByRole("button", { name: "ws", exact: true }).waitFor();
  await page.getByRole("button", { name: "Open folder here" }).click();
  await page.waitForURL(/\/files\?path=/);
  const envRoot = new globalThis.URL(page.url()).searchParams.get("path");
  await page.getByRole("tab", { name: "Git" }).click();
  await page.getByTestId("not-a-repo").waitFor();
  await page.getByRole("tab", { name: "Files" }).click();
  await page.getByRole("button", { name: "New file" }).click();
  await page.getByLabel("New file name").fill("scratch.txt");
  await page.keyboard.press("Enter");
  const scratch = page.locator(`[data-testid=editor][data-path="${envRoot}/scratch.txt"] .cm-content`);
  await scratch.click();
  await page.keyboard.type("scratch");
  await page.keyboard.press("Control+s");
  await page.getByTestId("save-state").filter({ hasText: "Saved" }).first().waitFor();
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("New name for scratch.txt").fill("renamed.txt");
  await page.keyboard.press("Enter");
  await page.getByTestId("file-tree").getByRole("button", { name: "renamed.txt" }).waitFor();
  await page.getByTestId("editor-tab").filter({ hasText: "renamed.txt" }).waitFor();
  await snap("files-renamed");
  page.once("dialog", (d) => void d.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByTestId("file-tree").getByRole("button", { name: "renamed.txt" }).waitFor({ state: "detached" });
  if (await page.getByTestId("editor-tab").count()) throw new Error("the deleted file's tab is still open");
  const gone = await page.evaluate(async (path) => {
    const node = location.pathname.split("/")[2];
    return (await fetch(`/api/v1/nodes/${node}/fs/stat?path=${encodeURIComponent(path)}`)).status;
  }, `${envRoot}/renamed.txt`);
  if (gone !== 404) throw new Error(`stat of the deleted file answered ${gone}`);

  // 8. A terminal on the node: run a command, resize, reload and reattach.
  await page.getByRole("link", { name: "Terminals" }).click();
  await page.getByRole("button", { name: "New terminal" }).click();
  await page.getByTestId("terminal-state").filter({ hasText: "started" }).waitFor();
  // Keys typed before bash's readline is up may be flushed by its terminal set-up, as in any terminal.
  await page.waitForFunction(() => /[#$]$/.test((document.querySelector("[data-testid=terminal] .xterm-rows")?.textContent ?? "").trimEnd()));
  await page.locator(".term").click();
  await page.keyboard.type("echo vb-$((6*7))");
  await page.keyboard.press("Enter");
  // The typed command line contains "vb-$((6*7))"; only the shell can print a plain "vb-42".
  await page.waitForFunction(() => {
    const text = document.querySelector("[data-testid=terminal] .xterm-rows")?.textContent ?? "";
    return text.replace(/echo vb-\$\(\(6\*7\)\)/g, "").includes("vb-42");
  });
  await snap("terminal");
  await page.setViewportSize({ width: 900, height: 520 });
  const size = await page.waitForFunction(() => {
    const t = document.querySelector("[data-testid=terminal] .term")?.vbTerm;
    return t && t.cols < 120 ? { cols: t.cols, rows: t.rows } : null;
  });
  const { cols, rows: nrows } = await size.jsonValue();
  await page.locator(".term").click();
  await page.keyboard.type("stty size");
  await page.keyboard.press("Enter");
  await page.waitForFunction(
    (want) => (document.querySelector("[data-testid=terminal] .xterm-rows")?.textContent ?? "").includes(want),
    `${nrows} ${cols}`,
  );
  await snap("terminal-resized");
  await page.reload();
  await page.getByTestId("terminal-state").filter({ hasText: "reattached" }).waitFor();
  await page.waitForFunction(() => (document.querySelector("[data-testid=terminal] .xterm-rows")?.textContent ?? "").includes("vb-42"));
  await snap("terminal-reattached");

  // 9. The session on a phone-size viewport: one pane at a time, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(sessionUrl);
  await page.locator("[data-testid=assistant-message]", { hasText: "second answer" }).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`the phone layout is ${overflow}px wider than the screen`);
  await snap("phone-session");
  await page.getByRole("tab", { name: "Details" }).click();
  await page.getByTestId("last-seq").waitFor();
  await snap("phone-details");
  await page.getByRole("tab", { name: "Transcript" }).click();
  await page.getByLabel("Theme").selectOption("dark");
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg !== "rgb(15, 18, 22)") throw new Error(`dark theme not applied: body background ${bg}`);
  await snap("phone-dark");
  // The files page on the phone: tree, editor and git are tabs, nothing wider than the screen.
  await page.goto(filesUrl);
  await page.getByTestId("file-tree").getByRole("button", { name: "README.md" }).click();
  await page.locator(`[data-testid=editor][data-path="${readme}"] .cm-content`, { hasText: "Edited in the browser." }).waitFor();
  const filesOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (filesOverflow > 1) throw new Error(`the phone files page is ${filesOverflow}px wider than the screen`);
  await snap("phone-editor");
  await page.getByRole("tab", { name: "Git" }).click();
  await page.getByTestId("git-summary").filter({ hasText: "working tree clean" }).waitFor();
  await snap("phone-git");

  // 10. Account: change the password (another login of the same user ends), then log out everywhere.
  await page.setViewportSize({ width: 1280, height: 800 });
  const other = await browser.newContext({ baseURL: URL });
  const otherPage = await other.newPage();
  await otherPage.goto(`${URL}/sessions`);
  await otherPage.fill("input[name=username]", "alice");
  await otherPage.fill("input[name=password]", "correct horse battery");
  await otherPage.getByRole("button", { name: "Log in" }).click();
  await otherPage.getByRole("navigation", { name: "Main" }).waitFor();
  await page.goto(`${URL}/account`);
  await page.fill("input[name=current_password]", "correct horse battery");
  await page.fill("input[name=new_password]", "a brand new passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByRole("status").filter({ hasText: "1 other login(s) ended" }).waitFor();
  await snap("account-password-changed");
  const otherMe = await otherPage.evaluate(async () => (await fetch("/api/v1/auth/me")).status);
  if (otherMe !== 401) throw new Error(`the other login still works after the password change (${otherMe})`);
  await other.close();
  await page.getByRole("button", { name: "Log out everywhere" }).click();
  await page.getByRole("heading", { name: "Log in" }).waitFor();
  await snap("logged-out-everywhere");

  if (errors.length) throw new Error(`page errors: ${errors.join("\n")}`);
  console.log("DONE");
} catch (e) {
  if (page) await snap("failure").catch(() => {});
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode ?? 0);
}
