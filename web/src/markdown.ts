// A small, safe Markdown renderer for task descriptions and comments: paragraphs, `#` headings, `-`/`*`/`1.`
// lists, fenced and inline code, **bold**, *italic*, [links](https://…) and `@name` mentions. Every piece of
// the source is HTML-escaped before any tag is added, and a link keeps only http(s), mailto and relative
// targets, so the output may go into innerHTML. Tested in web/unit/markdown.test.mjs.

/** `s` with the five HTML-significant characters escaped (safe in text and in quoted attributes). */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Whether a link target is one the renderer keeps (not `javascript:`, `data:` and the like). */
export function safeHref(href: string): boolean {
  const h = href.trim();
  if (/^(https?:|mailto:)/i.test(h)) return true;
  // Relative: no scheme before the first `/`, `?` or `#`.
  return !/^[^/?#]*:/.test(h);
}

/** Inline markup of one escaped-as-it-goes line: code spans first (their content stays literal), then the rest. */
function inline(text: string, mentions: string[]): string {
  const parts = text.split(/(`[^`]+`)/);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return `<code>${escapeHtml(part.slice(1, -1))}</code>`;
      // NUL never survives into the output, so it can mark where a link's finished anchor goes back in.
      let s = escapeHtml(part.replace(/\0/g, ""));
      // Links: the label and target are already escaped; the target is checked against its unescaped form. The
      // anchor is set aside while emphasis and mentions are applied, so they never reach into its href.
      const anchors: string[] = [];
      s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (whole, label: string, href: string) => {
        const raw = href.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
        if (!safeHref(raw)) return whole;
        anchors.push(`<a href="${href}" target="_blank" rel="noopener noreferrer">`);
        return `\0${anchors.length - 1}\0${label}</a>`;
      });
      s = s.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>").replace(/__([^_]+)__/g, "<strong>$1</strong>");
      s = s.replace(/(^|[^*\w])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>").replace(/(^|[^_\w])_([^_\s][^_]*)_(?!\w)/g, "$1<em>$2</em>");
      s = s.replace(/(^|[^\w@])@([A-Za-z0-9._-]+)/g, (whole, pre: string, name: string) =>
        mentions.includes(name) ? `${pre}<span class="mention">@${name}</span>` : whole,
      );
      return s.replace(/\0(\d+)\0/g, (_, i: string) => anchors[Number(i)]);
    })
    .join("");
}

/** `source` as HTML; `mentions` are the names highlighted after `@`. */
export function renderMarkdown(source: string, mentions: string[] = []): string {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let para: string[] = [];
  let list: { tag: "ul" | "ol"; items: string[] } | null = null;
  const flushPara = () => {
    if (para.length) out.push(`<p>${para.map((l) => inline(l, mentions)).join("<br>")}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list) out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i, mentions)}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = /^\s*```/.exec(line);
    if (fence) {
      flushPara();
      flushList();
      const code: string[] = [];
      i++;
      while (i < lines.length && !/^\s*```/.test(lines[i])) code.push(lines[i++]);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flushPara();
      flushList();
      const level = Math.min(heading[1].length + 2, 6); // inside a card: h3 and smaller
      out.push(`<h${level}>${inline(heading[2], mentions)}</h${level}>`);
    } else if (bullet || numbered) {
      flushPara();
      const tag = bullet ? "ul" : "ol";
      if (list && list.tag !== tag) flushList();
      list ??= { tag, items: [] };
      list.items.push((bullet ?? numbered)![1]);
    } else if (line.trim() === "") {
      flushPara();
      flushList();
    } else {
      flushList();
      para.push(line);
    }
  }
  flushPara();
  flushList();
  return out.join("\n");
}
