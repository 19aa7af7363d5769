// Builds web/dist (committed, embedded in the vibebridge binary). Fixed file names: main serves them with
// `Cache-Control: no-cache`, and identical sources always give identical bytes, so CI can diff the committed dist.
// The files page (CodeMirror) and each language grammar are chunks of their own, named after what they hold.
// The service worker (`sw.js`) is written from `sw/sw.js` with the build's file list and version filled in.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

/** `app-<name>.js`; a chunk of language grammars is named after its first grammar (`app-lang-rust.js`). */
function chunkName(chunk: { name: string; facadeModuleId: string | null; moduleIds: string[] }): string {
  if (chunk.name === "codemirror") return "app-codemirror.js";
  const grammar = /node_modules\/@(?:codemirror\/(?:lang|legacy-modes\/mode)|lezer)[-/]([a-z]+)/;
  const m = grammar.exec(chunk.facadeModuleId ?? "") ?? chunk.moduleIds.map((id) => grammar.exec(id)).find(Boolean);
  return `app-${m ? `lang-${m[1]}` : chunk.name}.js`;
}

/** Every file under `dir`, as paths relative to it with `/` separators, sorted. */
function filesUnder(dir: string, prefix = ""): string[] {
  let entries;
  try {
    entries = readdirSync(join(dir, prefix), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .flatMap((e) => (e.isDirectory() ? filesUnder(dir, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
    .sort();
}

/** `source` with its placeholder `placeholder` (present exactly once) replaced by `text`. */
function fill(source: string, placeholder: string, text: string): string {
  const parts = source.split(placeholder);
  if (parts.length !== 2) throw new Error(`sw/sw.js must hold ${placeholder} exactly once`);
  return parts.join(text);
}

/**
 * Writes `sw.js` from `sw/sw.js`: FILES becomes "/" (the shell) and the path of every file the build writes
 * (the bundle's and the public directory's), VERSION the first 12 hex digits of a SHA-256 over the worker's
 * source and those files' names and bytes, in name order: identical sources give identical bytes, and any
 * change gives the worker a new version (a new cache, the old one dropped). Runs after every other
 * `generateBundle` (Vite's own preload rewriting included), so it hashes the bytes that are written.
 */
function serviceWorker(): Plugin {
  let root = "";
  let publicDir = "";
  return {
    name: "vibebridge-service-worker",
    apply: "build",
    enforce: "post",
    configResolved(config) {
      root = config.root;
      publicDir = config.publicDir;
    },
    generateBundle: {
      order: "post",
      handler(_options, bundle) {
        const source = readFileSync(join(root, "sw/sw.js"), "utf8");
        const files = new Map<string, string | Uint8Array>();
        for (const [name, out] of Object.entries(bundle)) files.set(name, out.type === "chunk" ? out.code : out.source);
        for (const name of filesUnder(publicDir)) files.set(name, readFileSync(join(publicDir, name)));
        const names = [...files.keys()].sort();
        if (!names.includes("index.html")) throw new Error("the service worker's file list has no index.html");
        const hash = createHash("sha256").update(source);
        for (const name of names) hash.update(`\0${name}\0`).update(files.get(name) ?? "");
        const version = hash.digest("hex").slice(0, 12);
        const paths = ["/", ...names.filter((n) => n !== "index.html").map((n) => `/${n}`)];
        const worker = fill(fill(source, '"__VERSION__"', JSON.stringify(version)), '["__FILES__"]', JSON.stringify(paths, null, 2));
        this.emitFile({ type: "asset", fileName: "sw.js", source: worker });
      },
    },
  };
}

export default defineConfig({
  plugins: [react(), serviceWorker()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        entryFileNames: "app.js",
        chunkFileNames: chunkName,
        codeSplitting: {
          groups: [{ name: "codemirror", test: /node_modules\/(codemirror|@codemirror\/(state|view|language|commands|autocomplete|search|lint)|@lezer\/(common|highlight|lr)|style-mod|w3c-keyname|crelt|@marijn)\// }],
        },
        assetFileNames: "app[extname]",
      },
    },
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:4457", ws: true },
      "/health": "http://127.0.0.1:4457",
    },
  },
});
