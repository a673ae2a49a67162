// The web UI's build (`npm run build:web`): web/ → web/dist/, which `paved up` serves at /
// (src/http/web-ui.ts). TypeScript and JSX go through Vite's own transform; no framework plugin.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic" } },
  build: {
    // PAVED_UI_DIR builds elsewhere (paved up reads the same variable): parallel builds, packaging.
    outDir: process.env.PAVED_UI_DIR ?? "dist",
    emptyOutDir: true,
    // No inline script or style anywhere: the pages run under a CSP without 'unsafe-inline'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
    reportCompressedSize: false,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8080", "/auth": "http://127.0.0.1:8080" } },
});
