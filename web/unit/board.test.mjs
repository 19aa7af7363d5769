// Unit tests of the board's pure logic (src/board.ts): the neighbours a move names, the optimistic move, and
// folding main's answers and live frames into the columns. Run with `node --test web/unit` (rolldown turns
// the TypeScript module into JavaScript in memory, as in transcript.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const entry = fileURLToPath(new URL("../src/board.ts", import.meta.url));
const out = await build({ input: entry, write: false, output: { format: "esm" }, logLevel: "silent" });
const { applyTask, dropIndex, matches, moveCard, neighbours } = await import(
  `data:text/javascript;base64,${Buffer.from(out.output[0].code).toString("base64")}`
);

const task = (id, status, position, more = {}) => ({
  id,
  key: `WEB-${id}`,
  status,
  position,
  version: 1,
  title: `task ${id}`,
  description: "",
  labels: [],
  assignees: [],
  archived: false,
  priority: "none",
  subtasks: 0,
  ...more,
});
const board = () => ({
  columns: [
    { status: "todo", name: "To do", total: 3, tasks: [task("a", "todo", "a0"), task("b", "todo", "b0"), task("c", "todo", "c0")] },
    { status: "done", name: "Done", total: 1, tasks: [task("d", "done", "m0")] },
  ],
});
const ids = (b, status) => b.columns.find((c) => c.status === status).tasks.map((t) => t.id);

test("a move names the task above as after and the one below as before, none at the ends", () => {
  assert.deepEqual(neighbours(["a", "b", "c"], "b"), { after: "a", before: "c" });
  assert.deepEqual(neighbours(["a", "b", "c"], "a"), { before: "b" });
  assert.deepEqual(neighbours(["a", "b", "c"], "c"), { after: "b" });
  assert.deepEqual(neighbours(["a"], "a"), {});
});

test("the optimistic move reorders within a column like a sortable list and moves across with counts", () => {
  assert.deepEqual(ids(moveCard(board(), "a", "todo", 2), "todo"), ["b", "c", "a"]);
  assert.deepEqual(ids(moveCard(board(), "c", "todo", 0), "todo"), ["c", "a", "b"]);
  const across = moveCard(board(), "b", "done", 1);
  assert.deepEqual(ids(across, "todo"), ["a", "c"]);
  assert.deepEqual(ids(across, "done"), ["d", "b"]);
  assert.equal(across.columns[1].tasks[1].status, "done");
  assert.deepEqual(across.columns.map((c) => c.total), [2, 2]);
});

test("a card dropped in another column goes above or below the card it is over by the pointer's half", () => {
  assert.equal(dropIndex(false, 1, false), 1);
  assert.equal(dropIndex(false, 1, true), 2);
  assert.equal(dropIndex(true, 1, true), 1);
});

test("main's copy of a task lands by position, replaces the optimistic one, and a stale copy changes nothing", () => {
  const moved = moveCard(board(), "a", "done", 0);
  const answer = task("a", "done", "z0", { version: 2 });
  const after = applyTask(moved, "a", answer, {});
  assert.deepEqual(ids(after, "done"), ["d", "a"]);
  assert.deepEqual(ids(after, "todo"), ["b", "c"]);
  // The live frame of the same change, then an older one: nothing moves back.
  assert.deepEqual(applyTask(after, "a", answer, {}), after);
  assert.deepEqual(applyTask(after, "a", task("a", "todo", "a0", { version: 1 }), {}), after);
});

test("a frame without a task, or with one the filters exclude, drops it; past a column's loaded page it waits", () => {
  assert.deepEqual(ids(applyTask(board(), "b", undefined, {}), "todo"), ["a", "c"]);
  const renamed = task("b", "todo", "b0", { version: 2, title: "other" });
  assert.deepEqual(ids(applyTask(board(), "b", renamed, { q: "task" }), "todo"), ["a", "c"]);
  const paged = board();
  paged.columns[0].next = "cursor";
  assert.deepEqual(ids(applyTask(paged, "x", task("x", "todo", "d0"), {}), "todo"), ["a", "b", "c"]);
  assert.deepEqual(ids(applyTask(paged, "x", task("x", "todo", "b5"), {}), "todo"), ["a", "b", "x", "c"]);
});

test("filters match as main does: every word, any case; assignee by id or none; archived never", () => {
  const t = task("a", "todo", "a0", { title: "Fix the Login page", labels: ["ui"], assignees: ["u1"] });
  assert.ok(matches(t, { q: "login FIX" }));
  assert.ok(!matches(t, { q: "login signup" }));
  assert.ok(matches(t, { q: "ui" }));
  assert.ok(matches(t, { assignee: "u1", label: "ui" }));
  assert.ok(!matches(t, { assignee: "none" }));
  assert.ok(!matches({ ...t, archived: true }, {}));
});
