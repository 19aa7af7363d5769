// Unit tests of the Markdown renderer (src/markdown.ts): what it renders, and that nothing in the source can
// inject markup or script. Run with `node --test web/unit`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const entry = fileURLToPath(new URL("../src/markdown.ts", import.meta.url));
const out = await build({ input: entry, write: false, output: { format: "esm" }, logLevel: "silent" });
const { renderMarkdown, safeHref } = await import(`data:text/javascript;base64,${Buffer.from(out.output[0].code).toString("base64")}`);

test("HTML in the source is shown as text, in paragraphs, code and link labels alike", () => {
  const html = renderMarkdown('<img src=x onerror="alert(1)"> `<b>` [<i>x</i>](https://a.example)');
  assert.ok(!/<img|<b>|<i>/.test(html), html);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  assert.match(html, /<code>&lt;b&gt;<\/code>/);
  assert.match(html, /<a href="https:\/\/a.example"[^>]*>&lt;i&gt;x&lt;\/i&gt;<\/a>/);
});

test("links keep only http(s), mailto and relative targets; an attribute cannot be broken out of", () => {
  assert.ok(!renderMarkdown("[x](javascript:alert(1))").includes("<a "));
  assert.ok(!renderMarkdown("[x](JavaScript:alert(1))").includes("<a "));
  assert.ok(!renderMarkdown("[x](data:text/html,hi)").includes("<a "));
  const quoted = renderMarkdown('[x](https://a.example/"onmouseover="alert(1))');
  assert.ok(!/href="[^"]*"onmouseover/.test(quoted), quoted);
  const underscores = renderMarkdown("[x](https://a.example/a_b_c?to=@bob)", ["bob"]);
  assert.match(underscores, /href="https:\/\/a.example\/a_b_c\?to=@bob"/);
  assert.ok(safeHref("/w/WEB?task=WEB-1") && safeHref("mailto:a@b.example") && !safeHref("vbscript:x"));
});

test("the subset renders: headings, lists, fenced code, bold, italic, mentions", () => {
  const html = renderMarkdown("# Title\n\n- one\n- **two**\n\n1. first\n\n```\nlet a = 1 < 2;\n```\n\n*it* and @bob, not @eve", ["bob"]);
  assert.match(html, /<h3>Title<\/h3>/);
  assert.match(html, /<ul><li>one<\/li><li><strong>two<\/strong><\/li><\/ul>/);
  assert.match(html, /<ol><li>first<\/li><\/ol>/);
  assert.match(html, /<pre><code>let a = 1 &lt; 2;<\/code><\/pre>/);
  assert.match(html, /<em>it<\/em>/);
  assert.match(html, /<span class="mention">@bob<\/span>, not @eve/);
});
