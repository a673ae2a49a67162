import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../app.ts";
import { loadConfig } from "../config/index.ts";

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
});
