// Unit tests of the live channel's watch frames (src/api/live.ts) against a stand-in WebSocket: topics keep
// being watched as before, a board adds its workspace (the one watched last), and board frames reach only the
// watchers of the followed workspace. Run with `node --test web/unit`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

class FakeSocket {
  static OPEN = 1;
  static last = null;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.last = this;
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
}
globalThis.window = globalThis;
globalThis.location = { protocol: "http:", host: "vb.test" };
globalThis.WebSocket = FakeSocket;

const entry = fileURLToPath(new URL("../src/api/live.ts", import.meta.url));
const out = await build({ input: entry, write: false, output: { format: "esm" }, logLevel: "silent" });
const { live } = await import(`data:text/javascript;base64,${Buffer.from(out.output[0].code).toString("base64")}`);

test("a board's workspace joins the watch frame, the last one wins, and leaving restores the one before", () => {
  const stopNodes = live.watch("nodes", () => {});
  const ws = FakeSocket.last;
  ws.open();
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: ["nodes"] });
  const heardA = [];
  const heardB = [];
  const stopA = live.watchBoard("ws-a", (f) => heardA.push(f));
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: ["nodes"], workspace: "ws-a" });
  const stopB = live.watchBoard("ws-b", (f) => heardB.push(f));
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: ["nodes"], workspace: "ws-b" });

  ws.receive({ type: "task", workspace_id: "ws-b", task_id: "t1" });
  assert.deepEqual([heardA.length, heardB.length], [0, 1]);
  ws.receive({ type: "resync" });
  assert.deepEqual([heardA.length, heardB.length], [1, 2]);

  stopB();
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: ["nodes"], workspace: "ws-a" });
  stopA();
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: ["nodes"] });
  stopNodes();
  assert.deepEqual(ws.sent.at(-1), { type: "watch", topics: [] });
});

test("workspace frames go to the workspaces topic, not to boards", () => {
  const heard = [];
  const board = [];
  const stopTopic = live.watch("workspaces", (f) => heard.push(f.type));
  const stopBoard = live.watchBoard("ws-a", (f) => board.push(f.type));
  const ws = FakeSocket.last;
  if (ws.readyState !== 1) ws.open();
  ws.receive({ type: "workspace", workspace_id: "ws-a", removed: false });
  assert.deepEqual(heard, ["workspace"]);
  assert.deepEqual(board, []);
  stopBoard();
  stopTopic();
});
