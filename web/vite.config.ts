// Builds web/dist (committed, embedded in the vibebridge binary). Fixed file names: main serves them with
// `Cache-Control: no-cache`, and identical sources always give identical bytes, so CI can diff the committed dist.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

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
        chunkFileNames: "app-[name].js",
        assetFileNames: "app[extname]",
        codeSplitting: false,
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
