// The board's browser end-to-end run, driven by tests/tests/browser_board.rs against `vibebridge up`:
// register → create a workspace (WEB) → invite a member → a project on the local node's repository → three
// tasks by quick add → drag one across columns with the mouse and one with the keyboard, a second browser
// sees both moves live → filter by text (kept in the URL) → open a task, comment, see the activity → a stale
// edit refused with the current values shown → assignee, label, subtask → the list view → a status renamed in the settings → export,
// and import into a new workspace with the report shown → a prompt template and the prompt prefix in the settings, the
// template picked from the `@` suggestions in a description, a member in a comment → a due date on the card →
// archive (the task leaves the watcher's board live) and restore → the phone layout (columns scroll sideways, the drawer is full
// screen). A screenshot of every step goes to $VB_SHOTS.
import { basename } from "node:path";
import { startE2e } from "./common.mjs";

const URL = process.env.VB_URL;
const REPO = process.env.VB_REPO;
const SHOTS = process.env.VB_SHOTS;
const VK_ZIP = process.env.VB_VK_ZIP;
if (!URL || !REPO || !SHOTS) {
  console.error("VB_URL, VB_REPO and VB_SHOTS must be set (tests/tests/browser_board.rs sets them)");
  process.exit(2);
}

let page;
const T = 60_000;
const PASSWORD = "correct horse battery";
const e2e = await startE2e({ shots: SHOTS, timeout: T, viewport: { width: 1280, height: 800 } });
const { browser, errors, newPage } = e2e;
const snap = (name, on = page) => e2e.snap(on, name);

async function login(p, path) {
  await p.goto(`${URL}${path}`);
  await p.fill("input[name=username]", "alice");
  await p.fill("input[name=password]", PASSWORD);
  await p.getByRole("button", { name: "Log in" }).click();
  await p.getByRole("navigation", { name: "Main" }).waitFor();
}

const column = (p, status) => p.locator(`[data-testid=column-${status}]`);
const card = (p, status, text) => column(p, status).locator("[data-testid=task-card]", { hasText: text });
/** The task's status as main has it. */
const statusOf = (p, key) => p.evaluate(async (k) => (await (await fetch(`/api/v1/tasks/${k}`)).json()).status, key);

try {
  page = await newPage();

  // 1. The creator signs up.
  await page.goto(URL);
  await page.getByRole("heading", { name: "Create the first account" }).waitFor();
  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", PASSWORD);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: "Sessions" }).waitFor();

  // 2. A workspace with key prefix WEB, from the Boards page; the switcher lists it.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Boards" }).click();
  await page.getByRole("heading", { name: "Workspaces" }).waitFor();
  await page.getByLabel("Name").fill("Web team");
  await page.getByLabel("Key prefix").fill("web");
  await page.getByRole("button", { name: "Create workspace" }).click();
  await page.locator("[data-testid=board]").waitFor();
  if (!page.url().endsWith("/w/WEB")) throw new Error(`the board is at ${page.url()}`);
  await page.locator("[data-testid=workspace-switcher] option", { hasText: "Web team (WEB)" }).waitFor({ state: "attached" });
  await snap("workspace-created");

  // 3. Invite bob (signed up, approved by alice) as a member on the Members page.
  const bob = await newPage();
  await bob.goto(URL);
  await bob.getByRole("button", { name: "Create an account instead" }).click();
  await bob.fill("input[name=username]", "bob");
  await bob.fill("input[name=password]", "bob password 1");
  await bob.click("button[type=submit]");
  await bob.getByRole("heading", { name: "Waiting for approval" }).waitFor();
  const approved = await page.evaluate(async () => (await fetch("/api/v1/users/bob/approve", { method: "POST" })).status);
  if (approved !== 200) throw new Error(`approving bob: ${approved}`);
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Members" }).click();
  await page.getByLabel("Username").fill("bob");
  await page.getByRole("button", { name: "Invite" }).click();
  await page.locator("[data-testid=members] tr", { hasText: "@bob" }).waitFor();
  await snap("members");
  await bob.context().close();

  // 4. A project on the local node: the node, the repository browsed to, created with the defaults.
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Projects" }).click();
  await page.getByRole("button", { name: "New project" }).click();
  const form = page.locator("form[aria-label='New project']");
  await form.getByRole("list", { name: "Sub-directories" }).waitFor();
  await form.getByLabel("Repository path").fill(REPO);
  await form.getByRole("button", { name: "Open" }).click();
  await form.getByRole("list", { name: "Sub-directories" }).waitFor();
  await snap("project-form");
  await form.getByRole("button", { name: "Create project" }).click();
  await page.locator("[data-testid=project]", { hasText: basename(REPO) }).waitFor();
  await snap("project-created");

  // 5. Three tasks by quick add at the top of "To do": the newest is first.
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Board" }).click();
  const add = column(page, "todo").locator(".quick-add input");
  for (const title of ["First task", "Second task", "Third task"]) {
    await add.fill(title);
    await add.press("Enter");
    await card(page, "todo", title).waitFor();
  }
  const order = await column(page, "todo").locator("[data-testid=task-card] .task-title").allTextContents();
  if (order.join("|") !== "Third task|Second task|First task") throw new Error(`quick add order: ${order}`);
  await snap("tasks-added");

  // 6. A second browser, alice again, watches the same board.
  const watcher = await newPage();
  await login(watcher, "/w/WEB");
  await card(watcher, "todo", "First task").waitFor();

  // 7. Drag "First task" (WEB-1) to "In progress" with the mouse: real pointer moves, in steps.
  const from = await card(page, "todo", "First task").boundingBox();
  const to = await column(page, "in_progress").boundingBox();
  await page.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(from.x + from.width / 2 + 10, from.y + from.height / 2, { steps: 5 });
  await page.mouse.move(to.x + to.width / 2, to.y + 80, { steps: 20 });
  await page.mouse.up();
  await card(page, "in_progress", "First task").waitFor();
  await card(watcher, "in_progress", "First task").waitFor();
  if ((await card(watcher, "todo", "First task").count()) !== 0) throw new Error("the watcher still shows WEB-1 in To do");
  if ((await statusOf(page, "WEB-1")) !== "in_progress") throw new Error("WEB-1 did not move on the server");
  await snap("dragged-mouse");
  await snap("dragged-seen-live", watcher);

  // 8. Move "Second task" (WEB-2) with the keyboard: focus, Space, ArrowRight, Space.
  // Each key waits for the drag to show it (the card pressed, then what dnd-kit announces to screen readers).
  const announced = page.locator("[id^=DndLiveRegion]");
  await card(page, "todo", "Second task").focus();
  await page.keyboard.press("Space");
  await page.locator("[data-testid=task-card][data-key=WEB-2][aria-pressed=true]").waitFor({ state: "attached" });
  await page.keyboard.press("ArrowRight");
  await announced.filter({ hasText: /WEB-2 is over (In progress|WEB-1)/ }).waitFor({ state: "attached" });
  await page.keyboard.press("Space");
  await card(page, "in_progress", "Second task").waitFor();
  await card(watcher, "in_progress", "Second task").waitFor();
  if ((await statusOf(page, "WEB-2")) !== "in_progress") throw new Error("WEB-2 did not move on the server");
  await snap("dragged-keyboard", watcher);

  // 9. A text filter narrows the board and lives in the URL (a reload keeps it).
  await page.getByLabel("Filter text").fill("second");
  await page.waitForURL(/[?&]q=second/);
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=task-card]").length === 1);
  await page.reload();
  await card(page, "in_progress", "Second task").waitFor();
  if ((await page.locator("[data-testid=task-card]").count()) !== 1) throw new Error("the filter did not survive a reload");
  await snap("filtered");
  await page.getByLabel("Filter text").fill("");
  await page.waitForURL((u) => !u.search.includes("q="));
  await card(page, "todo", "Third task").waitFor();

  // 10. Open WEB-3, comment with a mention; the activity shows the comment.
  await card(page, "todo", "Third task").getByRole("link", { name: "Third task" }).click();
  await page.waitForURL(/[?&]task=WEB-3/);
  const drawer = page.locator("[data-testid=task-drawer]");
  await drawer.getByTestId("task-title").filter({ hasText: "Third task" }).waitFor();
  await drawer.getByLabel("New comment").fill("Looks **good**, @alice");
  await drawer.getByRole("button", { name: "Comment" }).click();
  await drawer.locator("[data-testid=comment] strong", { hasText: "good" }).waitFor();
  await drawer.locator("[data-testid=comment] .mention", { hasText: "@alice" }).waitFor();
  await drawer.locator("[data-testid=activity] li", { hasText: "commented" }).waitFor();
  await snap("task-comment");

  // 10a. A stale edit is refused, not written over: the watcher renames WEB-3 while alice edits it; her save
  // gets 409 `stale`, and the drawer shows the watcher's title and says so, keeping her text.
  await drawer.getByRole("button", { name: "Edit title and description" }).click();
  await drawer.getByLabel("Title").fill("Third task, alice's title");
  await drawer.getByLabel("Description").fill("Some *notes*");
  await drawer.getByRole("button", { name: "Preview" }).click();
  await drawer.locator(".markdown.preview em", { hasText: "notes" }).waitFor();
  const renamed = await watcher.evaluate(async () => {
    const t = await (await fetch("/api/v1/tasks/WEB-3")).json();
    const body = JSON.stringify({ version: t.version, title: "Third task, renamed elsewhere" });
    return (await fetch("/api/v1/tasks/WEB-3", { method: "PATCH", headers: { "Content-Type": "application/json" }, body })).status;
  });
  if (renamed !== 200) throw new Error(`the watcher's rename: ${renamed}`);
  await drawer.getByRole("button", { name: "Save" }).click();
  await drawer.getByTestId("stale-notice").waitFor();
  await drawer.getByTestId("task-title").filter({ hasText: "Third task, renamed elsewhere" }).waitFor();
  await drawer.getByTestId("stale-notice").filter({ hasText: "Third task, alice's title" }).waitFor({ state: "attached" });
  await snap("task-stale-edit");

  // 10a'. Assign bob, add a label and a subtask: the card shows them, in the watcher's browser too (the
  // subtask count when the board loads: adding a subtask pushes no frame for its parent).
  await drawer.getByRole("button", { name: "bob" }).click();
  await drawer.getByRole("button", { name: "bob", pressed: true }).waitFor();
  await drawer.getByLabel("Add a label").fill("frontend");
  await drawer.getByLabel("Add a label").press("Enter");
  await drawer.locator(".tag", { hasText: "frontend" }).waitFor();
  await drawer.getByLabel("New subtask").fill("A subtask");
  await drawer.getByLabel("New subtask").press("Enter");
  await drawer.getByRole("link", { name: /WEB-4 A subtask/ }).waitFor();
  const third = card(watcher, "todo", "renamed elsewhere");
  await third.locator(".avatar[aria-label=bob]").waitFor();
  await third.locator(".tag", { hasText: "frontend" }).waitFor();
  await snap("task-assigned-seen-live", watcher);
  await drawer.getByRole("button", { name: "Close" }).click();
  await drawer.waitFor({ state: "detached" });

  // 10b. The list view shows every task; a status renamed in the settings names the board's column.
  await page.getByTestId("view-toggle").click();
  await page.waitForURL(/[?&]view=list/);
  await page.locator("[data-testid=task-list] tbody tr").nth(2).waitFor();
  await snap("list-view");
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Settings" }).click();
  const settings = page.locator("form[aria-label=Settings]");
  await settings.getByLabel("in review").fill("Review");
  await settings.getByRole("button", { name: "Save" }).click();
  await settings.getByText("Saved.").waitFor();
  await snap("settings");
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Board" }).click();
  await column(page, "in_review").getByRole("heading", { name: "Review", exact: true }).waitFor();

  // 10c. Export WEB, import it into a new workspace with the settings' import dialog: the report shows.
  const exported = await page.evaluate(async () => {
    const r = await fetch("/api/v1/workspaces/WEB/export");
    return r.ok ? await r.text() : `${r.status}`;
  });
  if (!exported.startsWith("{")) throw new Error(`export: ${exported}`);
  const made = await page.evaluate(async () => {
    const body = JSON.stringify({ name: "Imported", key_prefix: "IMP" });
    return (await fetch("/api/v1/workspaces", { method: "POST", headers: { "Content-Type": "application/json" }, body })).status;
  });
  if (made !== 200) throw new Error(`creating IMP: ${made}`);
  await page.goto(`${URL}/w/IMP/settings`);
  const dialog = page.locator("form[aria-label=Import]");
  await dialog.getByLabel("File to import").setInputFiles({ name: "web.json", mimeType: "application/json", buffer: Buffer.from(exported) });
  await dialog.getByRole("button", { name: "Import", exact: true }).click();
  await dialog.getByTestId("import-report").filter({ hasText: "4 tasks" }).waitFor();
  await snap("import-report");

  // 10d. A Vibe Kanban cloud export ZIP (made by the Rust test) imports into a new workspace: the report names
  // the person it could not match, and the issues are on the board.
  const madeVk = await page.evaluate(async () => {
    const body = JSON.stringify({ name: "From Vibe Kanban", key_prefix: "VKI" });
    return (await fetch("/api/v1/workspaces", { method: "POST", headers: { "Content-Type": "application/json" }, body })).status;
  });
  if (madeVk !== 200) throw new Error(`creating VKI: ${madeVk}`);
  await page.goto(`${URL}/w/VKI/settings`);
  const vkDialog = page.locator("form[aria-label=Import]");
  await vkDialog.getByLabel("File to import").setInputFiles(VK_ZIP);
  await vkDialog.getByRole("button", { name: "Import", exact: true }).click();
  const vkReport = vkDialog.getByTestId("import-report");
  await vkReport.filter({ hasText: "vibe_kanban_zip" }).filter({ hasText: "2 tasks" }).waitFor();
  await vkReport.getByText("Not matched (left unassigned): Ghost Writer").waitFor();
  await snap("import-vibe-kanban-report");
  await page.goto(`${URL}/w/VKI`);
  await card(page, "in_progress", "Port the login page").waitFor();
  await snap("import-vibe-kanban-board");
  await page.goto(`${URL}/w/WEB`);
  await page.locator("[data-testid=board]").waitFor();

  // 10e. Prompt templates in the settings: `tests` added and listed; the prompt prefix saved with the other settings.
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Settings" }).click();
  const newTemplate = page.locator("form[aria-label='New template']");
  await newTemplate.getByLabel("Template name").fill("tests");
  await newTemplate.getByLabel("Template text").fill("Run the whole test suite.");
  await newTemplate.getByRole("button", { name: "Add template" }).click();
  await page.locator("[data-testid=template]", { hasText: "@tests" }).filter({ hasText: "Run the whole test suite." }).waitFor();
  const general = page.locator("form[aria-label=Settings]");
  await general.getByLabel("Prompt prefix").fill("Follow the repository's STYLE.md.");
  await general.getByRole("button", { name: "Save" }).click();
  await general.getByText("Saved.").waitFor();
  const prefix = await page.evaluate(async () => (await (await fetch("/api/v1/workspaces/WEB")).json()).settings.prompt_prefix);
  if (prefix !== "Follow the repository's STYLE.md.") throw new Error(`the prompt prefix is ${JSON.stringify(prefix)}`);
  await snap("prompt-templates");

  // 10f. In WEB-2's description, `@tes` suggests the template; Enter puts its text in place of `@tes`, and the
  // preview and the saved description show it. In the comment box `@bo` suggests bob, a mention.
  await page.getByRole("navigation", { name: "Workspace" }).getByRole("link", { name: "Board" }).click();
  await card(page, "in_progress", "Second task").getByRole("link", { name: "Second task" }).click();
  await page.waitForURL(/[?&]task=WEB-2/);
  await drawer.getByTestId("task-title").filter({ hasText: "Second task" }).waitFor();
  await drawer.getByRole("button", { name: "Edit title and description" }).click();
  const description = drawer.getByLabel("Description");
  await description.fill("Before merging: ");
  await description.press("End");
  await description.pressSequentially("@tes");
  await drawer.getByRole("listbox", { name: "Suggestions" }).getByRole("option", { name: /^tests/ }).waitFor();
  await snap("template-suggested");
  await description.press("Enter");
  await drawer.getByRole("listbox", { name: "Suggestions" }).waitFor({ state: "detached" });
  const written = await description.inputValue();
  if (written !== "Before merging: Run the whole test suite.") throw new Error(`the description reads ${JSON.stringify(written)}`);
  await drawer.getByRole("button", { name: "Preview" }).click();
  await drawer.locator(".markdown.preview", { hasText: "Run the whole test suite." }).waitFor();
  await drawer.getByRole("button", { name: "Save" }).click();
  await drawer.locator(".task-text .markdown", { hasText: "Before merging: Run the whole test suite." }).waitFor();
  const commentBox = drawer.getByLabel("New comment");
  const suggested = drawer.getByRole("listbox", { name: "Suggestions" });
  await commentBox.pressSequentially("@");
  await suggested.getByRole("option", { name: /^@alice/ }).waitFor();
  await commentBox.press("Escape"); // closes the list, not the drawer
  await suggested.waitFor({ state: "detached" });
  await commentBox.press("Backspace");
  await commentBox.pressSequentially("Thanks @bo");
  await suggested.getByRole("option", { name: /^@bob/ }).waitFor();
  await commentBox.press("Enter");
  if ((await commentBox.inputValue()) !== "Thanks @bob ") throw new Error(`the comment reads ${JSON.stringify(await commentBox.inputValue())}`);
  await drawer.getByRole("button", { name: "Comment" }).click();
  await drawer.locator("[data-testid=comment] .mention", { hasText: "@bob" }).waitFor();
  await snap("template-inserted");

  // 10g. A due date set in the drawer shows on the card, in the watcher's browser too.
  await drawer.getByLabel("Due date", { exact: true }).fill("2030-01-15");
  await drawer.getByRole("button", { name: "Clear the due date" }).waitFor();
  await card(page, "in_progress", "Second task").getByTestId("due").filter({ hasText: "Due 2030-01-15" }).waitFor();
  await card(watcher, "in_progress", "Second task").getByTestId("due").filter({ hasText: "Due 2030-01-15" }).waitFor();
  await snap("due-date", watcher);

  // 10h. Archived, WEB-2 leaves the board, the watcher's live; restored, it comes back.
  await drawer.getByRole("button", { name: "Archive", exact: true }).click();
  await drawer.getByTestId("archived").waitFor();
  await card(watcher, "in_progress", "Second task").waitFor({ state: "detached" });
  await card(page, "in_progress", "Second task").waitFor({ state: "detached" });
  await snap("archived");
  await snap("archived-seen-live", watcher);
  await drawer.getByRole("button", { name: "Restore", exact: true }).click();
  await drawer.getByTestId("archived").waitFor({ state: "detached" });
  await card(watcher, "in_progress", "Second task").waitFor();
  await drawer.getByRole("button", { name: "Close" }).click();
  await drawer.waitFor({ state: "detached" });

  // 11. The phone layout: the columns scroll sideways, the drawer covers the screen.
  const phone = await newPage({ width: 390, height: 844 });
  await login(phone, "/w/WEB");
  await card(phone, "in_progress", "First task").waitFor({ state: "attached" });
  const scrolls = await phone.locator("[data-testid=board]").evaluate((b) => b.scrollWidth > b.clientWidth);
  if (!scrolls) throw new Error("the board does not scroll sideways on a phone");
  await card(phone, "todo", "renamed elsewhere").locator(".subtasks", { hasText: "1" }).waitFor({ state: "attached" });
  await snap("phone-board", phone);
  await phone.goto(`${URL}/w/WEB?task=WEB-1`);
  const phoneDrawer = phone.locator("[data-testid=task-drawer]");
  await phoneDrawer.getByTestId("task-title").waitFor();
  const box = await phoneDrawer.boundingBox();
  if (Math.round(box.width) !== 390) throw new Error(`the drawer is ${box.width}px wide on a 390px screen`);
  await snap("phone-drawer", phone);

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
