// The `@` suggestions' pure logic: the `@word` being typed at the caret, the templates and members it may
// name, and the text after one is picked (a template's body in place of `@name`, or `@username`). No React
// here, so node's unit tests (web/unit/mention.test.mjs) run it as it is.

/** The `@word` the caret is in: `start` at the `@`, `end` past the word, `query` the letters after `@`. */
export interface AtWord {
  start: number;
  end: number;
  query: string;
}

/** What may follow `@`: template names (letters, digits, `-`, `_`) and usernames (also `.`). */
const wordChar = (c: string) => /^[A-Za-z0-9_.-]$/.test(c);

/**
 * The `@word` around `caret` in `text`, if the caret is in one: the `@` starts the text or follows a character
 * that is not a letter, digit, `.` or `_` (so `mail@example.com` is not one, as main reads mentions), and only
 * word characters lie between it and the caret.
 */
export function atWord(text: string, caret: number): AtWord | null {
  let at = caret;
  while (at > 0 && wordChar(text[at - 1])) at -= 1;
  if (at === 0 || text[at - 1] !== "@") return null;
  const start = at - 1;
  const before = start > 0 ? text[start - 1] : "";
  if (before && (/[\p{L}\p{N}]/u.test(before) || before === "." || before === "_")) return null;
  let end = caret;
  while (end < text.length && wordChar(text[end])) end += 1;
  return { start, end, query: text.slice(at, caret) };
}

/** One entry of the suggestion list. */
export interface Suggestion {
  kind: "template" | "member";
  /** The name after `@`: a template's name or a member's username. */
  name: string;
  /** Shown beside the name: the start of a template's body, a member's full name. */
  detail: string;
  /** What replaces the `@word`: the template's body, or `@username`. */
  insert: string;
}

/** A template as suggestions need it. */
export interface TemplateLike {
  name: string;
  body: string;
}

/** A member as suggestions need it. */
export interface MemberLike {
  username: string;
  name?: string;
}

/** A body's first line, cut to `max` characters, for the list. */
function firstLine(body: string, max = 60): string {
  const line = body.trim().split("\n")[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The suggestions for `query` (case-insensitive): names starting with it first, then names containing it;
 * templates before members within each; at most `limit`. `templates` may be empty (the comment box only
 * mentions members).
 */
export function suggestions(query: string, templates: TemplateLike[], members: MemberLike[], limit = 8): Suggestion[] {
  const q = query.toLowerCase();
  const all: Suggestion[] = [
    ...templates.map((t): Suggestion => ({ kind: "template", name: t.name, detail: firstLine(t.body), insert: t.body })),
    ...members.map((m): Suggestion => ({ kind: "member", name: m.username, detail: m.name ?? "", insert: `@${m.username}` })),
  ];
  const starts = all.filter((s) => s.name.toLowerCase().startsWith(q));
  const contains = q ? all.filter((s) => !s.name.toLowerCase().startsWith(q) && s.name.toLowerCase().includes(q)) : [];
  return [...starts, ...contains].slice(0, limit);
}

/**
 * `text` with the `@word` at `word` replaced by `insert`, and where the caret goes: right after what was
 * inserted, past one space that follows a mention (added when the text goes on without one).
 */
export function replaceAt(text: string, word: AtWord, s: Pick<Suggestion, "kind" | "insert">): { text: string; caret: number } {
  const rest = text.slice(word.end);
  const space = s.kind === "member" && !/^\s/.test(rest) ? " " : "";
  const inserted = s.insert + space;
  const caret = word.start + inserted.length + (s.kind === "member" && !space ? 1 : 0);
  return { text: text.slice(0, word.start) + inserted + rest, caret: Math.min(caret, word.start + inserted.length + rest.length) };
}
