import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../app.ts";
import { loadConfig } from "../config/index.ts";
import { createLogger } from "../core/index.ts";
import { buildServer } from "./server.ts";

describe("server assembly", () => {
  let app: App;
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-http-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent" } }));
  });
  afterAll(async () => app.close());

  it("generates an admin token once and stores only its hash", async () => {
    expect(app.generatedAdminToken).toMatch(/^pvd_/);
    const rows = await app.database.db.selectFrom("api_tokens").select("token_hash").execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.token_hash).not.toContain(app.generatedAdminToken);
  });

  it("serves health and the OpenAPI document without a token", async () => {
    expect((await app.server.inject({ url: "/api/v1/health" })).json()).toEqual({ status: "ok", role: "leader" });
    const doc = (await app.server.inject({ url: "/api/v1/openapi.json" })).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/api/v1/health"].get.summary).toBeTruthy();
  });

  it("answers unknown routes with a coded error and no internals", async () => {
    const res = await app.server.inject({ url: "/api/v1/nope" });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe("NOT_FOUND");
  });

  it("refuses to bind a public address with authentication disabled", async () => {
    const config = loadConfig({ env: {}, overrides: { host: "0.0.0.0", auth: { disabled: true }, logLevel: "silent" } });
    await expect(createApp(config)).rejects.toMatchObject({ code: "CONFIG" });
  });

  it("aborts a handler's signal when the client goes away", async () => {
    let aborted: () => void = () => undefined;
    const abortSeen = new Promise<void>((resolve) => (aborted = resolve));
    let started: () => void = () => undefined;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    const server = buildServer({
      routes: [
        {
          method: "GET",
          url: "/api/v1/wait",
          summary: "waits for the client to leave",
          public: true,
          action: "platform:read",
          handler: async ({ signal }) => {
            signal.addEventListener("abort", () => aborted());
            started();
            await abortSeen;
            return {};
          },
        },
      ],
      tokens: undefined,
      logger: createLogger("silent"),
      bodyLimit: 1024,
      uploadLimit: 1024,
      requestTimeoutMs: 60_000,
    });
    await server.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = server.server.address() as AddressInfo;
      const req = http.get({ port, host: "127.0.0.1", path: "/api/v1/wait" });
      req.on("error", () => undefined);
      await handlerStarted;
      req.destroy();
      await abortSeen;
    } finally {
      await server.close();
    }
  });
});

describe("a handler's signal on a request with a body", () => {
  it("is not aborted when the body has been read, only when the client goes away", async () => {
    let seen: boolean | undefined;
    const server = buildServer({
      routes: [
        {
          method: "POST",
          url: "/api/v1/echo",
          summary: "answers whether its signal is aborted",
          public: true,
          action: "platform:read",
          handler: async (ctx) => {
            // As a handler that first awaits something (a lookup) and only then reads its signal.
            await new Promise((resolve) => setTimeout(resolve, 50));
            const { signal, body } = ctx;
            seen = signal.aborted;
            return { aborted: signal.aborted, body };
          },
        },
      ],
      tokens: undefined,
      logger: createLogger("silent"),
      bodyLimit: 1024,
      uploadLimit: 1024,
      requestTimeoutMs: 60_000,
    });
    await server.listen({ port: 0, host: "127.0.0.1" });
    try {
      const { port } = server.server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: 1 }) });
      expect(await res.json()).toEqual({ aborted: false, body: { x: 1 } });
      expect(seen).toBe(false);
    } finally {
      await server.close();
    }
  });
});

// Issue 7, finding 12: bodies were parsed before authentication (32 MiB each), and a body trickled
// a byte at a time held its connection forever (requestTimeout 0).
describe("request bounds", () => {
  let app: App;
  let port: number;
  let admin: string;
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-http-bounds-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", port: 0, http: { maxBodyBytes: 64 * 1024, requestTimeoutSeconds: 1 } } }));
    port = Number(new URL(await app.listen()).port);
    admin = app.generatedAdminToken!;
  });
  afterAll(async () => app.close());

  /** Sends headers only (the body announced but never sent) and resolves with the answer, if any. */
  function headersOnly(headers: Record<string, string>): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/api/2.0/mlflow/experiments/create", headers: { "content-type": "application/json", "content-length": String(30 * 1024 * 1024), ...headers } });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          resolve({ status: res.statusCode!, body });
          req.destroy();
        });
      });
      req.on("error", reject);
      req.flushHeaders();
    });
  }

  it("refuses an unauthenticated request before reading its body", async () => {
    const res = await headersOnly({});
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error_code).toBe("UNAUTHENTICATED");
  });

  it("refuses a job token's forbidden request before reading its body", async () => {
    const job = await app.tokens.mintForJob("job-bounds", 60_000);
    const res = await headersOnly({ authorization: `Bearer ${job}` });
    expect(res.status).toBe(403);
  });

  it("bounds an authenticated JSON body", async () => {
    const payload = JSON.stringify({ name: "x".repeat(128 * 1024) });
    const res = await fetch(`http://127.0.0.1:${port}/api/2.0/mlflow/experiments/create`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" }, body: payload });
    expect(res.status).toBe(413);
  });

  it("ends a request whose body trickles in slower than the request timeout", async () => {
    const ended = await new Promise<string>((resolve) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/api/2.0/mlflow/experiments/create", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", "content-length": "1000" } });
      let sent = 0;
      const timer = setInterval(() => {
        if (sent++ < 1000) req.write(" ");
      }, 100);
      const done = (how: string) => {
        clearInterval(timer);
        resolve(how);
      };
      req.on("response", (res) => done(`answered ${res.statusCode} after ${sent} bytes`));
      req.on("error", () => done(`closed after ${sent} bytes`));
      req.on("close", () => done(`closed after ${sent} bytes`));
    });
    // 1000 bytes at one per 100 ms would take 100 s; the 1 s bound ends it long before.
    expect(ended).not.toMatch(/after 1000 bytes/);
    expect(ended).toMatch(/answered 408|closed/);
  });
});
