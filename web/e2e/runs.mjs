// The task-run loop in a real browser, driven by tests/tests/browser_runs.rs against `vibebridge up` with the real
// `claude` CLI pointed at the mock Anthropic API: a workspace, project and task (made through the API, as the board
// run covers those pages) → open the task → Run an agent (Claude, asking before commands) → the card says "needs
// attention" → allow the command in the run's transcript → the run idles and the card moves to review → the Changes
// tab shows the file; a comment on line 2 → Send 1 comment to the agent → allow its fix → the comment is outdated →
// Merge (squash) → the card is in Done → the workspace's usage → the phone layout of the drawer. A screenshot of every step goes to $VB_SHOTS.
import { startE2e } from "./common.mjs";

const URL = process.env.VB_URL;
const REPO = process.env.VB_REPO;
const SHOTS = process.env.VB_SHOTS;
if (!URL || !REPO || !SHOTS) {
  console.error("VB_URL, VB_REPO and VB_SHOTS must be set (tests/tests/browser_runs.rs sets them)");
  process.exit(2);
}

let page;
const T = 90_000;
const PASSWORD = "correct horse battery";
const e2e = await startE2e({ shots: SHOTS, timeout: T, viewport: { width: 1280, height: 900 } });
const { browser, errors, newPage } = e2e;
const snap = (name, on = page) => e2e.snap(on, name);
const call = (method, path, body, want = 200) => e2e.call(page, method, path, body, want);

const card = (status, text) => page.locator(`[data-testid=column-${status}] [data-testid=task-card]`, { hasText: text });

try {
  page = await newPage();
  await page.goto(URL);
  await page.getByRole("heading", { name: "Create the first account" }).waitFor();
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();

  // 1. A workspace, a project on the local node's repository, a task in it.
  const ws = await call("POST", "/workspaces", { name: "Web", key_prefix: "WEB" });
  const nodes = await call("GET", "/nodes");
  const project = await call("POST", `/workspaces/${ws.id}/projects`, {
    node_id: nodes[0].id,
    repo_path: REPO,
    scripts: { setup: "", cleanup: "", dev: 'echo "dev server on port $VB_PORT"; exec sleep 600' },
  });
  await call("POST", `/workspaces/${ws.id}/tasks`, { title: "Count to two", project_id: project.id });

  // 2. Open the task and run Claude on it, asking before commands.
  await page.goto(`${URL}/w/WEB?task=WEB-1`);
  const drawer = page.locator("[data-testid=task-drawer]");
  await drawer.getByTestId("task-title").waitFor();
  await drawer.getByRole("button", { name: "Run an agent" }).click();
  const form = drawer.locator("form[aria-label='Start a run']");
  await form.getByLabel("Agent").selectOption("claude");
  await form.getByLabel("Permission mode").selectOption("default");
  await form.getByLabel("Prompt").fill("Write it [[shell:printf 'one\\ntwo\\n' > count.txt]] [[text:Counted.]]");
  await snap("start-run");
  await form.getByRole("button", { name: "Start" }).click();

  // 3. The command waits for approval: the card says so; allow it in the run's transcript.
  const panel = drawer.locator("[data-testid=run-panel]");
  const approval = panel.locator("[data-testid=approval]", { hasText: "Approval needed" });
  await approval.waitFor();
  await card("in_progress", "Count to two").locator("[data-testid=attention]").waitFor({ state: "attached" });
  await snap("needs-attention");
  await approval.getByRole("button", { name: "Allow" }).click();
  await panel.locator("[data-testid=assistant-message]", { hasText: "Counted." }).waitFor();
  await drawer.locator("[data-testid=run-row][data-status=idle]").waitFor();
  await card("in_review", "Count to two").locator("[data-testid=run-chip]", { hasText: "idle" }).waitFor({ state: "attached" });
  await snap("first-turn");

  // 4. Review: the file in Changes; a comment on line 2 sent to the agent, whose fix is allowed.
  await panel.getByRole("button", { name: "Processes" }).click();
  await panel.locator("[data-testid=processes] tr[data-kind=codingagent][data-status=completed]").waitFor();
  // The project's dev server: started beside the idle run, its output in the transcript, then stopped.
  await panel.getByRole("button", { name: "Start dev server" }).click();
  await panel.locator("[data-testid=processes] tr[data-kind=devserver][data-status=running]").waitFor();
  await panel.getByRole("button", { name: "Transcript" }).click();
  await panel.locator("[data-testid=script-card]", { hasText: "Dev server" }).locator("[data-testid=script-output]", { hasText: "dev server on port" }).waitFor();
  await snap("dev-server");
  await panel.getByRole("button", { name: "Stop dev server" }).click();
  await panel.getByRole("button", { name: "Processes" }).click();
  await panel.locator("[data-testid=processes] tr[data-kind=devserver][data-status=killed]").waitFor();
  await panel.getByRole("button", { name: "Changes" }).click();
  const file = panel.locator("[data-testid=review-file][data-path='count.txt']");
  await file.waitFor();
  await file.getByRole("button", { name: "Comment on line 2" }).click();
  await file.getByLabel("Review comment").fill("Use a digit [[shell:sed -i 's/^two$/2/' count.txt]] [[text:Fixed.]]");
  await file.getByRole("button", { name: "Comment", exact: true }).click();
  await file.locator("[data-testid=review-comment]", { hasText: "not sent" }).waitFor();
  await snap("review-comment");
  await panel.getByTestId("send-review").click();
  await panel.getByRole("button", { name: "Transcript" }).click();
  const fixApproval = panel.locator("[data-testid=approval]", { hasText: "Approval needed" });
  await fixApproval.waitFor();
  await fixApproval.getByRole("button", { name: "Allow" }).click();
  await panel.locator("[data-testid=assistant-message]", { hasText: "Fixed." }).waitFor();
  await drawer.locator("[data-testid=run-row][data-status=idle]", { hasText: "2 turns" }).waitFor();
  await panel.getByRole("button", { name: "Changes" }).click();
  await panel.locator("[data-testid=review-comment]", { hasText: "outdated" }).waitFor();
  await panel.locator("[data-testid=review-file] td.code", { hasText: "+2" }).waitFor();
  await snap("fixed");

  // 5. Merge (squash): the run is merged and the card is in Done.
  await panel.getByTestId("merge").click();
  await panel.getByTestId("run-merged").waitFor();
  await card("done", "Count to two").waitFor({ state: "attached" });
  await snap("merged");

  // 6. The workspace's usage: the run's two turns, by day and by run.
  await page.goto(`${URL}/w/WEB/usage`);
  await page.locator("[data-testid=usage-rows] tr", { hasText: "WEB-1 Count to two" }).waitFor();
  await page.locator(".usage-bar").first().waitFor();
  const turns = await page.locator("[data-testid=usage-rows] tbody tr td").nth(1).textContent();
  if (turns !== "2") throw new Error(`usage counts ${turns} turns, not 2`);
  await snap("usage");

  // 7. The phone layout: the drawer with its runs covers the screen.
  const phone = await newPage({ width: 390, height: 844 });
  await phone.goto(`${URL}/w/WEB?task=WEB-1`);
  await phone.fill("input[name=username]", "alice");
  await phone.fill("input[name=password]", PASSWORD);
  await phone.getByRole("button", { name: "Log in" }).click();
  const phoneDrawer = phone.locator("[data-testid=task-drawer]");
  await phoneDrawer.locator("[data-testid=run-row][data-status=merged]").waitFor();
  const box = await phoneDrawer.boundingBox();
  if (Math.round(box.width) !== 390) throw new Error(`the drawer is ${box.width}px wide on a 390px screen`);
  await phoneDrawer.locator("[data-testid=runs]").scrollIntoViewIfNeeded();
  await snap("phone-runs", phone);

  if (errors.length) throw new Error(`page errors: ${errors.join("\n")}`);
  console.log("DONE");
} catch (e) {
  if (page) await snap("failure").catch(() => {});
  if (page) {
    const panel = await page.evaluate(() => document.querySelector("[data-testid=run-panel]")?.outerHTML.slice(0, 3000) ?? "no run panel").catch(() => "");
    console.error(`run panel: ${panel}`);
  }
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode ?? 0);
}
