// Unit tests of the `@` suggestions' pure logic (src/mention.ts): finding the `@word` at the caret, which
// templates and members it suggests, and the text after one is picked. Run with `node --test web/unit`
// (rolldown turns the TypeScript module into JavaScript in memory, as in board.test.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const entry = fileURLToPath(new URL("../src/mention.ts", import.meta.url));
const out = await build({ input: entry, write: false, output: { format: "esm" }, logLevel: "silent" });
const { atWord, replaceAt, suggestions } = await import(`data:text/javascript;base64,${Buffer.from(out.output[0].code).toString("base64")}`);

const templates = [
  { name: "tests", body: "Run the whole test suite.\nThen report." },
  { name: "style", body: "Follow STYLE.md." },
  { name: "latest", body: "Use the latest release." },
];
const members = [
  { username: "alice", name: "Alice Liddell" },
  { username: "tess" },
  { username: "bob.smith" },
];

test("the @word at the caret is found at the start, after spaces and punctuation, with the word after the caret", () => {
  assert.deepEqual(atWord("@tes", 4), { start: 0, end: 4, query: "tes" });
  assert.deepEqual(atWord("Do it. @tes", 11), { start: 7, end: 11, query: "tes" });
  assert.deepEqual(atWord("(@al) x", 4), { start: 1, end: 4, query: "al" });
  assert.deepEqual(atWord("x @", 3), { start: 2, end: 3, query: "" });
  // The caret inside the word: the query is what lies before it, the replaced word runs to its end.
  assert.deepEqual(atWord("see @testsuite now", 8), { start: 4, end: 14, query: "tes" });
  assert.deepEqual(atWord("@bob.sm", 7), { start: 0, end: 7, query: "bob.sm" });
});

test("no @word in e-mail addresses, after a space, or without an @", () => {
  assert.equal(atWord("mail a@tes", 10), null);
  assert.equal(atWord("x.@tes", 6), null);
  assert.equal(atWord("snake_@tes", 10), null);
  assert.equal(atWord("@tes more", 9), null);
  assert.equal(atWord("plain words", 5), null);
  assert.equal(atWord("", 0), null);
});

test("suggestions: prefix matches first (templates before members), then names containing the query", () => {
  const s = suggestions("tes", templates, members);
  assert.deepEqual(
    s.map((x) => `${x.kind}:${x.name}`),
    ["template:tests", "member:tess", "template:latest"],
  );
  assert.equal(s[0].insert, "Run the whole test suite.\nThen report.");
  assert.equal(s[0].detail, "Run the whole test suite.");
  assert.equal(s[1].insert, "@tess");
  assert.deepEqual(
    suggestions("AL", templates, members).map((x) => x.name),
    ["alice"],
  );
  assert.equal(suggestions("", templates, members).length, 6);
  assert.equal(suggestions("", templates, members, 2).length, 2);
  assert.deepEqual(suggestions("zzz", templates, members), []);
  // The comment box passes no templates: members only.
  assert.deepEqual(
    suggestions("", [], members).map((x) => x.kind),
    ["member", "member", "member"],
  );
});

test("picking a template puts its body in place of the @word, the caret after it", () => {
  const text = "Fix it. @tes then ship";
  const word = atWord(text, 12);
  const r = replaceAt(text, word, { kind: "template", insert: "Run the whole test suite." });
  assert.equal(r.text, "Fix it. Run the whole test suite. then ship");
  assert.equal(r.caret, "Fix it. Run the whole test suite.".length);
});

test("picking a member writes @username and one space, the caret after it", () => {
  const end = replaceAt("hi @al", atWord("hi @al", 6), { kind: "member", insert: "@alice" });
  assert.deepEqual(end, { text: "hi @alice ", caret: 10 });
  const mid = replaceAt("hi @al there", atWord("hi @al there", 6), { kind: "member", insert: "@alice" });
  assert.deepEqual(mid, { text: "hi @alice there", caret: 10 });
});
