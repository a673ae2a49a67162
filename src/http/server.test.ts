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
    expect((await app.server.inject({ url: "/api/v1/health" })).json()).toEqual({ status: "ok" });
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
      uploadLimit: 1024,
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
