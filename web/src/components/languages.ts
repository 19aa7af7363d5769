// Syntax highlighting by file name: each language's grammar is its own chunk, fetched the first time a file of
// that kind is opened, so the editor itself stays small.
import type { StreamParser } from "@codemirror/language";
import type { Extension } from "@codemirror/state";

type Loader = () => Promise<Extension>;

const legacy = (load: () => Promise<StreamParser<unknown>>): Loader =>
  async () => {
    const [{ StreamLanguage }, parser] = await Promise.all([import("@codemirror/language"), load()]);
    return StreamLanguage.define(parser);
  };

const js = (opts: { jsx?: boolean; typescript?: boolean }): Loader => async () => (await import("@codemirror/lang-javascript")).javascript(opts);

const BY_EXT: Record<string, Loader> = {
  js: js({}),
  mjs: js({}),
  cjs: js({}),
  jsx: js({ jsx: true }),
  ts: js({ typescript: true }),
  mts: js({ typescript: true }),
  cts: js({ typescript: true }),
  tsx: js({ jsx: true, typescript: true }),
  py: async () => (await import("@codemirror/lang-python")).python(),
  pyi: async () => (await import("@codemirror/lang-python")).python(),
  rs: async () => (await import("@codemirror/lang-rust")).rust(),
  json: async () => (await import("@codemirror/lang-json")).json(),
  md: async () => (await import("@codemirror/lang-markdown")).markdown(),
  markdown: async () => (await import("@codemirror/lang-markdown")).markdown(),
  html: async () => (await import("@codemirror/lang-html")).html(),
  htm: async () => (await import("@codemirror/lang-html")).html(),
  css: async () => (await import("@codemirror/lang-css")).css(),
  yaml: async () => (await import("@codemirror/lang-yaml")).yaml(),
  yml: async () => (await import("@codemirror/lang-yaml")).yaml(),
  go: async () => (await import("@codemirror/lang-go")).go(),
  c: async () => (await import("@codemirror/lang-cpp")).cpp(),
  h: async () => (await import("@codemirror/lang-cpp")).cpp(),
  cc: async () => (await import("@codemirror/lang-cpp")).cpp(),
  cpp: async () => (await import("@codemirror/lang-cpp")).cpp(),
  cxx: async () => (await import("@codemirror/lang-cpp")).cpp(),
  hpp: async () => (await import("@codemirror/lang-cpp")).cpp(),
  hh: async () => (await import("@codemirror/lang-cpp")).cpp(),
  java: async () => (await import("@codemirror/lang-java")).java(),
  xml: async () => (await import("@codemirror/lang-xml")).xml(),
  svg: async () => (await import("@codemirror/lang-xml")).xml(),
  sql: async () => (await import("@codemirror/lang-sql")).sql(),
  toml: legacy(async () => (await import("@codemirror/legacy-modes/mode/toml")).toml),
  sh: legacy(async () => (await import("@codemirror/legacy-modes/mode/shell")).shell),
  bash: legacy(async () => (await import("@codemirror/legacy-modes/mode/shell")).shell),
  zsh: legacy(async () => (await import("@codemirror/legacy-modes/mode/shell")).shell),
  diff: legacy(async () => (await import("@codemirror/legacy-modes/mode/diff")).diff),
  patch: legacy(async () => (await import("@codemirror/legacy-modes/mode/diff")).diff),
};

const BY_NAME: Record<string, string> = {
  dockerfile: "dockerfile",
  ".bashrc": "sh",
  ".profile": "sh",
  "cargo.lock": "toml",
};

const dockerfile = legacy(async () => (await import("@codemirror/legacy-modes/mode/dockerfile")).dockerFile);

/** The highlighting for a file, or null for plain text. */
export function languageFor(path: string): Loader | null {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const byName = BY_NAME[name];
  if (byName === "dockerfile") return dockerfile;
  if (byName) return BY_EXT[byName] ?? null;
  const dot = name.lastIndexOf(".");
  return dot > 0 ? (BY_EXT[name.slice(dot + 1)] ?? null) : null;
}
