import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig, type ConfigInput } from "../../config/index.ts";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
import type { AuditRecord } from "./schema.ts";

// The audit log through the real app: every mutating route's answer, refusals included, with the
// request id the client got back, and never a token or a secret.
describe.each(testDialects())("audit log over the API on %s", (dialect) => {
  let app: App;
  let dataDir: string;
  let databaseUrl: string | undefined;
  let admin: string;
  let ada: string;
  let jobToken: string;
  let jobId: string;
  const SECRET = "env-secret-value-4f1c9a0b7d";

  const open = (over: Partial<ConfigInput> = {}) =>
    createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, ...(databaseUrl ? { databaseUrl } : {}), ...over } }));
  const call = (token: string | undefined, method: "GET" | "POST" | "PUT" | "DELETE", url: string, payload?: object, headers: Record<string, string> = {}) =>
    app.server.inject({ method, url, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, ...(payload ? { payload } : {}) });
  const audit = async (query: Record<string, string> = {}): Promise<{ records: AuditRecord[]; nextPageToken?: string }> => {
    const res = await call(admin, "GET", `/api/v1/audit?${new URLSearchParams({ limit: "1000", ...query })}`);
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "paved-audit-"));
    databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await open();
    admin = app.generatedAdminToken!;
    expect((await call(admin, "POST", "/api/v1/teams", { name: "fraud" })).statusCode).toBe(200);
    expect((await call(admin, "POST", "/api/v1/users", { name: "ada", teams: [{ team: "fraud", role: "developer" }] })).statusCode).toBe(200);
    const minted = await call(admin, "POST", "/api/v1/users/ada/tokens", { name: "laptop" });
    ada = minted.json().token;
    // No controller runs (the app does not listen): the job stays queued, and its token stays valid.
    const job = await call(admin, "POST", "/api/v1/jobs", { name: "audited", team: "fraud", command: ["sleep", "1"], workingDir: dataDir, env: { API_KEY: SECRET } });
    expect(job.statusCode).toBe(200);
    jobId = job.json().id;
    jobToken = await app.tokens.mintForJob(jobId, 3_600_000);
  });
  afterAll(async () => app?.close());

  it("records an admin's mutation with who, what, outcome and the request id the client got back", async () => {
    const res = await call(admin, "POST", "/api/2.0/mlflow/experiments/create", { name: "audited-experiment" });
    expect(res.statusCode).toBe(200);
    const requestId = res.headers["x-request-id"] as string;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const [record] = (await audit({ action: "experiments:write" })).records.filter((r) => r.requestId === requestId);
    expect(record).toMatchObject({
      count: 1,
      actor: { name: "admin", kind: "user" },
      action: "experiments:write",
      method: "POST",
      route: "/api/2.0/mlflow/experiments/create",
      outcome: { status: 200, errorCode: null },
      clientIp: "127.0.0.1",
    });
    const teamCreated = (await audit({ action: "teams:create" })).records;
    expect(teamCreated).toHaveLength(1);
    expect(teamCreated[0]).toMatchObject({ actor: { name: "admin" }, outcome: { status: 200 } });
  });

  it("keeps a client's safe x-request-id and replaces one that is not", async () => {
    const kept = await call(admin, "POST", "/api/v1/teams", { name: "search" }, { "x-request-id": "trace-7f.3:a_b" });
    expect(kept.headers["x-request-id"]).toBe("trace-7f.3:a_b");
    for (const unsafe of ["has spaces", "x".repeat(129), ada]) {
      const res = await call(admin, "POST", "/api/v1/teams", { name: "search" }, { "x-request-id": unsafe });
      expect(res.statusCode).toBe(409);
      expect(res.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    }
    const records = (await audit({ action: "teams:create" })).records;
    expect(records.map((r) => r.requestId)).toContain("trace-7f.3:a_b");
    expect(records.filter((r) => r.outcome.errorCode === "ALREADY_EXISTS" || r.outcome.status === 409)).toHaveLength(3);
  });

  it("records a job token's refused mutation as 403 FORBIDDEN, with the job as actor", async () => {
    const res = await call(jobToken, "POST", "/api/v1/deployments", { model: "churn", version: "1" });
    expect(res.statusCode).toBe(403);
    const records = (await audit({ actor: `job:${jobId}` })).records;
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      actor: { name: `job:${jobId}`, kind: "job", jobId },
      team: "fraud",
      action: "deployments:write",
      outcome: { status: 403, errorCode: "FORBIDDEN" },
      requestId: res.headers["x-request-id"],
    });
  });

  it("records an unauthenticated mutation as 401 with no actor", async () => {
    expect((await call(undefined, "POST", "/api/v1/teams", { name: "anon" })).statusCode).toBe(401);
    expect((await call("pvd_not-a-real-token", "DELETE", "/api/v1/tokens/tok-x")).statusCode).toBe(401);
    const records = (await audit({ outcome: "UNAUTHENTICATED" })).records;
    expect(records.map((r) => [r.method, r.route, r.actor.name, r.actor.kind, r.outcome.status])).toEqual([
      ["DELETE", "/api/v1/tokens/:id", null, null, 401],
      ["POST", "/api/v1/teams", null, null, 401],
    ]);
    expect(records[0]!.params).toEqual({ id: "tok-x" });
  });

  it("answers only platform admins", async () => {
    const res = await call(ada, "GET", "/api/v1/audit");
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe("FORBIDDEN");
    expect((await call(jobToken, "GET", "/api/v1/audit/export")).statusCode).toBe(403);
    expect((await call(undefined, "GET", "/api/v1/audit")).statusCode).toBe(401);
  });

  it("records no reads: GETs, MLflow's POSTed searches and inference", async () => {
    await call(admin, "GET", "/api/v1/jobs");
    await call(admin, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: ["0"] });
    await call(admin, "POST", "/api/2.0/mlflow/experiments/search", { max_results: 10 });
    await call(admin, "POST", "/v2/models/nothing/infer", { inputs: [] });
    const recorded = new Set((await audit()).records.map((r) => `${r.method} ${r.route}`));
    expect([...recorded].filter((r) => r.startsWith("GET "))).toEqual([]);
    for (const read of ["POST /api/2.0/mlflow/runs/search", "POST /api/2.0/mlflow/experiments/search", "POST /v2/models/:name/infer"]) expect(recorded.has(read)).toBe(false);
    expect(recorded.has("POST /api/v1/jobs")).toBe(true);
  });

  it("pages newest first and filters by time, actor, team, action and outcome", async () => {
    const all = (await audit()).records;
    expect(all.length).toBeGreaterThan(6);
    expect(all.map((r) => r.time)).toEqual([...all.map((r) => r.time)].sort((a, b) => b - a));
    const paged: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await audit({ limit: "3", ...(pageToken ? { pageToken } : {}) });
      expect(page.records.length).toBeLessThanOrEqual(3);
      paged.push(...page.records.map((r) => r.id));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(paged).toEqual(all.map((r) => r.id));
    expect((await audit({ since: "1h", actor: "admin", action: "teams:*", outcome: "success" })).records.every((r) => r.action === "teams:create" && r.outcome.status === 200)).toBe(true);
    expect((await audit({ team: "fraud", outcome: "403" })).records).toHaveLength(1);
    expect((await audit({ until: "2000-01-01T00:00:00Z" })).records).toEqual([]);
    const bads: Record<string, string>[] = [{ since: "yesterday" }, { action: "nope:*" }, { outcome: "bad" }, { pageToken: "bm9wZQ" }, { limit: "1001" }];
    for (const bad of bads) {
      const res = await call(admin, "GET", `/api/v1/audit?${new URLSearchParams(bad)}`);
      expect(res.statusCode).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
  });

  it("takes the client's address from X-Forwarded-For only behind a configured proxy", async () => {
    const direct = await call(admin, "POST", "/api/v1/teams", { name: "direct" }, { "x-forwarded-for": "203.0.113.7" });
    const record = (await audit({ action: "teams:create" })).records.find((r) => r.requestId === direct.headers["x-request-id"]);
    expect(record?.clientIp).toBe("127.0.0.1");
    const proxied = await open({ http: { trustedProxies: ["127.0.0.1"] } });
    try {
      const res = await proxied.server.inject({ method: "POST", url: "/api/v1/teams", headers: { authorization: `Bearer ${admin}`, "x-forwarded-for": "203.0.113.7" }, payload: { name: "proxied" } });
      expect(res.statusCode).toBe(200);
      const records = (await proxied.server.inject({ method: "GET", url: "/api/v1/audit?limit=1", headers: { authorization: `Bearer ${admin}` } })).json().records;
      expect(records[0]).toMatchObject({ action: "teams:create", clientIp: "203.0.113.7" });
    } finally {
      await proxied.close();
    }
    expect(() => loadConfig({ env: {}, overrides: { http: { trustedProxies: ["*"] } } })).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });

  it("exports JSON Lines oldest first, with no token or secret anywhere", async () => {
    // A token in the query string and in the request id must not reach the log either.
    await call(admin, "POST", `/api/v1/teams?token=${ada}`, { name: "query-token" }, { "x-request-id": jobToken });
    const res = await call(admin, "GET", "/api/v1/audit/export");
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/jsonl/);
    const lines = res.body.trimEnd().split("\n");
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    expect(records.length).toBe((await audit()).records.length);
    expect(records.map((r) => r.time)).toEqual([...records.map((r) => r.time)].sort((a, b) => a - b));
    for (const secret of [admin, ada, jobToken, SECRET, "Bearer", "API_KEY", TOKEN_BODY(admin), TOKEN_BODY(ada)]) expect(res.body).not.toContain(secret);
    const filtered = await call(admin, "GET", `/api/v1/audit/export?${new URLSearchParams({ actor: `job:${jobId}` })}`);
    expect(filtered.body.trimEnd().split("\n")).toHaveLength(1);
  });

  it("summarises run-tracking writes (written when the server stops) and records their refusals at once", async () => {
    const run = (await call(admin, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" })).json().run.info;
    for (let i = 0; i < 3; i++) {
      const res = await call(admin, "POST", "/api/2.0/mlflow/runs/log-batch", { run_id: run.run_id, metrics: [{ key: "loss", value: 1 / (i + 1), timestamp: 1, step: i }] });
      expect(res.statusCode).toBe(200);
    }
    // The run is in another team than the job's: answered as missing, and recorded at once.
    expect((await call(jobToken, "POST", "/api/2.0/mlflow/runs/log-batch", { run_id: run.run_id, metrics: [] })).statusCode).toBe(404);
    const before = (await audit({ action: "runs:write" })).records;
    expect(before.map((r) => [r.actor.name, r.outcome.status, r.outcome.errorCode, r.count])).toEqual([[`job:${jobId}`, 404, "NOT_FOUND", 1]]);
    await app.close();
    app = await open();
    const after = (await audit({ action: "runs:write", actor: "admin" })).records;
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ count: 3, requestId: null, target: { kind: "run", id: run.run_id }, outcome: { status: 200 } });
    expect(after[0]!.firstTime).toBeLessThanOrEqual(after[0]!.time);
  });
});

/** The random part of a token, in case something stored it without the prefix. */
function TOKEN_BODY(token: string): string {
  return token.replace(/^pvd_/, "");
}
