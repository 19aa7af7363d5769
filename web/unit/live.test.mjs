// Unit tests of the live channel's watch frames (src/api/live.ts) against a stand-in WebSocket: topics keep
// being watched as before, a board adds its workspace (the one watched last), and board frames (webhooks'
// included) reach only the watchers of the followed workspace; the browser's presence goes first on every
// connect and again only when it changed. Run with `node --test web/unit`.
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

test("presence goes first on every (re)connect, again only when it changed, and never opens the socket by itself", () => {
  FakeSocket.last?.onclose?.(); // the earlier tests' socket, no longer wanted
  const before = FakeSocket.last;
  live.setPresence({ type: "presence", visible: true });
  assert.equal(FakeSocket.last, before, "presence alone opened a socket");
  const stop = live.watch("approvals", () => {});
  const ws = FakeSocket.last;
  ws.open();
  assert.deepEqual(ws.sent[0], { type: "presence", visible: true });
  live.setPresence({ type: "presence", visible: true });
  assert.equal(ws.sent.filter((f) => f.type === "presence").length, 1, "an unchanged presence was sent again");
  live.setPresence({ type: "presence", device: "d1", session_id: "s1", visible: true });
  assert.deepEqual(ws.sent.at(-1), { type: "presence", device: "d1", session_id: "s1", visible: true });
  stop();
  ws.onclose?.();

  const stopAgain = live.watch("nodes", () => {});
  const again = FakeSocket.last;
  assert.notEqual(again, ws);
  again.open();
  assert.deepEqual(again.sent[0], { type: "presence", device: "d1", session_id: "s1", visible: true });
  stopAgain();
  again.onclose?.();
  live.setPresence(null);
});

test("webhook frames reach the followed workspace's board watchers", () => {
  const heard = [];
  const stop = live.watchBoard("ws-a", (f) => heard.push(f));
  const ws = FakeSocket.last;
  if (ws.readyState !== 1) ws.open();
  ws.receive({ type: "webhook", workspace_id: "ws-a", webhook_id: "h1" });
  assert.deepEqual(heard.map((f) => [f.type, f.webhook_id]), [["webhook", "h1"]]);
  stop();
});
