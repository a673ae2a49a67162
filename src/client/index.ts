// Typed client of Paved's HTTP API, shared by the CLI and the web UI. It sees only core/ and the
// modules' zod schemas, never server code. Credentials (files under ~/.config) live in
// credentials.ts, imported directly by the CLI, so this entry stays browser-safe.
export * from "./types.ts";
export * from "./paved-client.ts";
