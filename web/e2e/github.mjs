// The GitHub loop in a real browser, driven by a Rust test against `vibebridge up` with the fake GitHub (tests/src/mock/
// github.rs) configured as its GitHub and the real `claude` CLI pointed at the mock Anthropic API: the first account
// and a workspace → Settings → GitHub → Connect GitHub → the fake's authorize page → back, connected as octo → the
// workspace's settings connect $VB_REPO through the picker → a project created from it, cloned into $VB_CLONE_PATH on
// the local node → a task in it, a Claude run that writes a file → Push → Create pull request → #1 on the run and on
// the board's card. A screenshot of every step goes to $VB_SHOTS; the last line printed is `DONE`.
//
// Inputs: VB_URL (main's UI), VB_SHOTS, VB_REPO (`owner/name` to pick, e.g. acme/web), VB_CLONE_PATH (an absolute
// directory inside the node's roots that does not exist yet), optionally VB_PROMPT (the run's prompt, mock
// directives included) and VB_CHROMIUM.
import { startE2e } from "./common.mjs";

const URL = process.env.VB_URL;
const SHOTS = process.env.VB_SHOTS;
const REPO = process.env.VB_REPO || "acme/web";
const CLONE = process.env.VB_CLONE_PATH;
const PROMPT = process.env.VB_PROMPT || "Add a greeting [[shell:printf 'hello\\n' > greeting.txt]] [[text:Greeted.]]";
if (!URL || !SHOTS || !CLONE) {
  console.error("VB_URL, VB_SHOTS and VB_CLONE_PATH must be set (VB_REPO defaults to acme/web)");
  process.exit(2);
}
const SLUG = REPO.replace(/\//g, "-");
const SEARCH = REPO.split("/").pop();

let page;
const T = 120_000;
const PASSWORD = "correct horse battery";
const e2e = await startE2e({ shots: SHOTS, timeout: T, viewport: { width: 1280, height: 900 } });
const { browser, errors, newPage } = e2e;
const snap = (name, on = page) => e2e.snap(on, name);
const call = (method, path, body, want = 200) => e2e.call(page, method, path, body, want);

/** Waits until `check` answers true (polled), up to `ms`. */
async function until(what, check, ms = T) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(250);
  }
}

try {
  page = await newPage();

  // 1. The first account, and a workspace.
  // (A harness whose main already has alice, with this password, gets her logged in instead.)
  await page.goto(URL);
  const first = page.getByRole("heading", { name: "Create the first account" });
  const login = page.getByRole("button", { name: "Log in" });
  await first.or(login).first().waitFor();
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();
  const workspaces = await call("GET", "/workspaces");
  const ws = workspaces.find((w) => w.settings.key_prefix === "WEB") ?? (await call("POST", "/workspaces", { name: "Web", key_prefix: "WEB" }));
  await snap("registered");

  // 2. Settings → GitHub → Connect GitHub → the fake's authorize page → back, connected as octo.
  await page.goto(`${URL}/settings/github`);
  await page.getByRole("heading", { name: "GitHub", exact: true }).waitFor();
  await snap("github-settings");
  await page.getByTestId("gh-connect").click();
  await page.locator("#authorize").waitFor();
  await snap("github-authorize");
  await page.locator("#authorize").click();
  await page.waitForURL((u) => u.pathname === "/settings/github");
  await page.getByTestId("gh-account").filter({ hasText: "octo" }).waitFor();
  if (await page.getByTestId("gh-error").count()) throw new Error(`GitHub error: ${await page.getByTestId("gh-error").first().textContent()}`);
  await snap("github-connected");

  // 3. The workspace's settings: connect the repository through the picker.
  await page.goto(`${URL}/w/WEB/settings`);
  await page.getByTestId("gh-repos").waitFor();
  await page.getByTestId("gh-connect-repo").click();
  const picker = page.getByTestId("gh-repo-picker");
  await picker.getByTestId("gh-repo-search").fill(SEARCH);
  const row = picker.getByTestId(`gh-repo-${SLUG}`);
  await row.waitFor();
  await snap("repo-picker");
  await row.click();
  await page.getByTestId(`gh-connected-${SLUG}`).waitFor();
  await snap("repo-connected");

  // 4. Projects: a project from the repository, cloned into VB_CLONE_PATH on the local node.
  await page.goto(`${URL}/w/WEB/projects`);
  await page.getByRole("button", { name: "New project" }).click();
  await page.getByTestId("project-from-github").click();
  const repoSelect = page.getByTestId("gh-project-repo");
  await until("the connected repository in the project form", async () => (await repoSelect.locator("option", { hasText: REPO }).count()) > 0);
  const repoOption = await repoSelect.locator("option", { hasText: REPO }).first().getAttribute("value");
  await repoSelect.selectOption(repoOption);
  const nodes = await call("GET", "/nodes");
  const node = nodes.find((n) => n.online) ?? nodes[0];
  await page.locator("form[aria-label='New project from GitHub']").locator("label", { hasText: /^Node/ }).locator("select").selectOption(node.id);
  await page.getByTestId("gh-project-path").fill(CLONE);
  await snap("project-from-github");
  await page.getByTestId("gh-project-create").click();
  const projectCard = page.locator("[data-testid=project]", { has: page.locator("[data-testid=project-github]") });
  await projectCard.waitFor();
  await snap("project-created");
  const projects = await call("GET", `/workspaces/${ws.id}/projects`);
  const project = projects.find((p) => p.github_repo);
  if (!project) throw new Error(`no project has a GitHub repository: ${JSON.stringify(projects)}`);

  // 5. A task in the project; a Claude run on it from the drawer.
  const task = await call("POST", `/workspaces/${ws.id}/tasks`, { title: "Add a greeting", project_id: project.id });
  await page.goto(`${URL}/w/WEB?task=${task.key}`);
  const drawer = page.locator("[data-testid=task-drawer]");
  await drawer.getByTestId("task-title").waitFor();
  await drawer.getByRole("button", { name: "Run an agent" }).click();
  const form = drawer.locator("form[aria-label='Start a run']");
  await form.getByLabel("Agent").selectOption("claude");
  await form.getByLabel("Permission mode").selectOption("default");
  await form.getByLabel("Prompt").fill(PROMPT);
  await snap("start-run");
  await form.getByRole("button", { name: "Start" }).click();

  // 6. Its turn ends (its command allowed when it asks, as in runs.mjs).
  const panel = drawer.locator("[data-testid=run-panel]");
  await panel.waitFor();
  const idle = drawer.locator("[data-testid=run-row][data-status=idle]");
  const allow = panel.locator("[data-testid=approval]", { hasText: "Approval needed" }).getByRole("button", { name: "Allow" });
  await until(
    "the run's turn to end",
    async () => {
      if (await idle.count()) return true;
      if (await allow.count()) {
        await snap("approval");
        await allow.first().click().catch(() => {});
      }
      const failed = await drawer.locator("[data-testid=run-row][data-status=failed]").count();
      if (failed) throw new Error(`the run failed: ${await drawer.locator("[data-testid=runs]").textContent()}`);
      return false;
    },
    2 * T,
  );
  await snap("turn-ended");

  // 7. Push: the run says what went where.
  const gh = panel.getByTestId("run-github");
  await gh.getByTestId("run-push").click();
  await gh.getByTestId("run-pushed").filter({ hasText: "Pushed" }).waitFor();
  await snap("pushed");

  // 8. Create the pull request: #1 on the run.
  await gh.getByTestId("run-create-pr").click();
  await gh.getByTestId("run-pr-dialog").waitFor();
  await snap("pr-dialog");
  await gh.getByTestId("run-pr-submit").click();
  await gh.getByTestId("run-pr-link").filter({ hasText: "#1" }).waitFor();
  await gh.getByTestId("run-pr-checks").waitFor();
  await snap("pr-created");

  // 9. The board's card shows it.
  await drawer.getByRole("button", { name: "Close" }).click();
  await drawer.waitFor({ state: "detached" });
  const chip = page.locator("[data-testid=task-card]", { hasText: "Add a greeting" }).locator("[data-testid=card-pr]", { hasText: "#1" });
  await chip.waitFor();
  await snap("card-pr");

  if (errors.length) throw new Error(`page errors: ${errors.join("\n")}`);
  console.log("DONE");
} catch (e) {
  if (page) await snap("failure").catch(() => {});
  if (page) {
    const html = await page
      .evaluate(() => (document.querySelector("[data-testid=run-panel]") ?? document.querySelector("main"))?.outerHTML.slice(0, 3000) ?? "nothing")
      .catch(() => "");
    console.error(`page (${page.url()}): ${html}`);
  }
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
  process.exit(process.exitCode ?? 0);
}
