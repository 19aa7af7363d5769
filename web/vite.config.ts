// Builds web/dist (committed, embedded in the vibebridge binary). Fixed file names: main serves them with
// `Cache-Control: no-cache`, and identical sources always give identical bytes, so CI can diff the committed dist.
// The files page (CodeMirror) and each language grammar are chunks of their own, named after what they hold.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

/** `app-<name>.js`; a chunk of language grammars is named after its first grammar (`app-lang-rust.js`). */
function chunkName(chunk: { name: string; facadeModuleId: string | null; moduleIds: string[] }): string {
  if (chunk.name === "codemirror") return "app-codemirror.js";
  const grammar = /node_modules\/@(?:codemirror\/(?:lang|legacy-modes\/mode)|lezer)[-/]([a-z]+)/;
  const m = grammar.exec(chunk.facadeModuleId ?? "") ?? chunk.moduleIds.map((id) => grammar.exec(id)).find(Boolean);
  return `app-${m ? `lang-${m[1]}` : chunk.name}.js`;
}

export default defineConfig({
  plugins: [react()],
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
