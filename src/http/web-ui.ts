import { readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";

/** Where `npm run build:web` writes the web UI (web/vite.config.ts): web/dist of this checkout. */
export const WEB_UI_DIR = new URL("../../web/dist/", import.meta.url).pathname;

/**
 * The policy every page of the UI runs under: scripts and styles only from Paved's own files (no
 * inline script, no eval), no plugin, no framing by another site, forms and fetches only to Paved.
 * Images may be data: and blob: URLs (artifact previews are fetched, then shown from a blob).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cross-origin-opener-policy": "same-origin",
};

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** Paths that are the API's, never a page of the UI: an unknown one there is a 404 in JSON. */
const API_PREFIXES = ["/api/", "/v2/", "/auth/", "/ajax-api/", "/health", "/metrics"];

/** A file the build emitted: a plain name, optionally under assets/ (no `..`, no other folder). */
const ASSET_PATH = /^\/(?:assets\/)?[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * Serves the web UI's built files from `dir`: an asset by its exact name, and for every other
 * browser navigation outside the API the app's index.html (the app routes on the client). Nothing
 * a request names reaches the file system except a name matching ASSET_PATH inside `dir`.
 */
export class WebUi {
  private index: Buffer | undefined;
  private readonly assets = new Map<string, { body: Buffer; type: string }>();

  constructor(private readonly dir: string = WEB_UI_DIR) {}

  /** Answers the request when it is the UI's; false leaves it to the API's not-found answer. */
  async serve(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    if (request.method !== "GET" && request.method !== "HEAD") return false;
    const path = (request.url.split("?")[0] ?? "/").replace(/\/+$/, "") || "/";
    if (API_PREFIXES.some((p) => path === p.replace(/\/$/, "") || path.startsWith(p))) return false;
    if (path !== "/" && ASSET_PATH.test(path) && extname(path) !== "") {
      const asset = await this.asset(path);
      if (!asset) return false;
      // Emitted names carry their content's hash: they never change.
      const cache = path.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache";
      void reply.headers({ ...SECURITY_HEADERS, "cache-control": cache }).type(asset.type);
      await reply.send(asset.body);
      return true;
    }
    // A page: only for a browser's navigation, so a script's typo still gets the API's 404.
    const accept = request.headers.accept ?? "";
    if (!accept.includes("text/html")) return false;
    const index = await this.indexHtml();
    void reply.headers({ ...SECURITY_HEADERS, "cache-control": "no-cache" }).type("text/html; charset=utf-8");
    await reply.send(index ?? MISSING_BUILD);
    return true;
  }

  private async indexHtml(): Promise<Buffer | undefined> {
    if (this.index) return this.index;
    try {
      this.index = await readFile(join(this.dir, "index.html"));
      return this.index;
    } catch {
      return undefined;
    }
  }

  private async asset(path: string): Promise<{ body: Buffer; type: string } | undefined> {
    const cached = this.assets.get(path);
    if (cached) return cached;
    const type = TYPES[extname(path)];
    if (!type) return undefined;
    const file = join(this.dir, path);
    try {
      if (!(await stat(file)).isFile()) return undefined;
      const asset = { body: await readFile(file), type };
      this.assets.set(path, asset);
      return asset;
    } catch {
      return undefined;
    }
  }
}

const MISSING_BUILD = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Paved</title></head><body><main><h1>Paved's web UI is not built</h1><p>Run <code>npm run build:web</code> in the Paved checkout (npm install does it), then reload. The API answers at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></main></body></html>`;
