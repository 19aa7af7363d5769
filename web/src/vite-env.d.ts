// Side-effect CSS imports are bundled by Vite.
declare module "*.css";

// What Vite replaces at build: `import.meta.env.PROD` is true in `vite build`, false under `vite dev`.
interface ImportMeta {
  readonly env: { readonly PROD: boolean; readonly DEV: boolean };
}
