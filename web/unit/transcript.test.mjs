// Unit tests of the transcript fold (src/transcript.ts), run with `node --test web/unit` after rolldown turns the
// TypeScript module into plain JavaScript in memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const entry = fileURLToPath(new URL("../src/transcript.ts", import.meta.url));
const out = await build({ input: entry, write: false, output: { format: "esm" }, logLevel: "silent" });
const code = out.output[0].code;
const { apply, emptyTranscript } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);

const turn = [
  { seq: 1, type: "user_message", text: "hi" },
  { seq: 2, type: "assistant_message", message_id: "m1", text: "hello" },
  { seq: 3, type: "usage", input_tokens: 10, output_tokens: 2, cost_usd: 0.5 },
  { seq: 4, type: "turn_completed", is_error: false },
];

const turnEnd = (t) => t.items.find((i) => i.kind === "turn_end");

test("a turn's usage shows on its end row however the events are batched", () => {
  const whole = apply(emptyTranscript(), turn);
  let oneByOne = emptyTranscript();
  for (const ev of turn) oneByOne = apply(oneByOne, [ev]);
  assert.equal(turnEnd(whole).usage.input_tokens, 10);
  assert.deepEqual(turnEnd(oneByOne), turnEnd(whole));
  assert.deepEqual(oneByOne.usage, whole.usage);
});

test("events already applied are skipped, so a replayed page changes nothing", () => {
  const once = apply(emptyTranscript(), turn);
  assert.deepEqual(apply(once, turn), once);
});
