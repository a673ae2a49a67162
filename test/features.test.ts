// Feature sets through the whole app (app.inject), on SQLite and PostgreSQL, with real DuckDB and
// real files: create versions pinned to dataset versions, materialize into a dataset version with
// lineage, build a point-in-time-correct training set (no feature value from after a label's
// timestamp leaks in; a label before any feature gets NULL), and refuse bad input with stable codes.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { featureSetSpecSchema } from "../src/modules/features/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

describe.each(testDialects())("features API (%s)", (dialect) => {
  let app: App;
  const tokens: Record<"admin" | "dev" | "viewer" | "other", string> = { admin: "", dev: "", viewer: "", other: "" };

  const call = async (who: keyof typeof tokens, method: "GET" | "POST", url: string, payload?: unknown) => {
    const raw = Buffer.isBuffer(payload);
    const res = await app.server.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(payload === undefined ? {} : { "content-type": raw ? "application/octet-stream" : "application/json" }) },
      ...(payload === undefined ? {} : { payload: raw ? (payload as Buffer) : JSON.stringify(payload) }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  const dataset = async (who: keyof typeof tokens, name: string, content: string) => {
    const up = await call(who, "POST", "/api/v1/dataset-uploads", Buffer.from(content));
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const v = await call(who, "POST", `/api/v1/datasets/${name}/versions`, { files: [{ path: `${name}.csv`, digest: up.body.digest }] });
    expect(v.status, JSON.stringify(v.body)).toBe(200);
    return v.body.ref as string;
  };
  const rows = async (ref: string) => {
    const [name, version] = ref.slice("datasets:/".length).split("@");
    const res = await call("viewer", "GET", `/api/v1/datasets/${name}/versions/${version}/preview?rows=100`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return (res.body.rows as unknown[][]).map((r) => Object.fromEntries((res.body.columns as string[]).map((c, i) => [c, r[i]])));
  };

  const spendSpec = {
    name: "customer-spend",
    entityKey: "customer_id",
    timestamp: "event_time",
    sql: "SELECT customer_id, event_time, avg(amount) OVER (PARTITION BY customer_id ORDER BY event_time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS avg_amount FROM orders",
    inputs: { orders: "datasets:/orders@1" },
  };

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-features-api-"));
    app = await createApp(
      loadConfig({ env: {}, overrides: { dataDir, ...(dialect === "postgres" ? { databaseUrl: await testPostgresUrl() } : {}), logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 }, datasets: { duckdb: { threads: 1, memoryLimitMiB: 256, maxConcurrent: 1 } } } }),
    );
    tokens.admin = app.generatedAdminToken!;
    const ok = async (url: string, payload: unknown) => {
      const res = await call("admin", "POST", url, payload);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    };
    await ok("/api/v1/teams", { name: "alpha" });
    await ok("/api/v1/teams", { name: "beta" });
    const person = async (name: string, team: string, role: string) => {
      await ok("/api/v1/users", { name, teams: [{ team, role }] });
      return (await ok(`/api/v1/users/${name}/tokens`, { name: "t" })).token as string;
    };
    tokens.dev = await person("dev", "alpha", "developer");
    tokens.viewer = await person("vera", "alpha", "viewer");
    tokens.other = await person("otto", "beta", "developer");
    // Customer 1 spends 10 on day 1 and 30 on day 5; customer 2 spends 100 on day 3.
    await dataset("dev", "orders", "customer_id,event_time,amount\n1,2024-01-01 00:00:00,10\n1,2024-01-05 00:00:00,30\n2,2024-01-03 00:00:00,100\n");
    await dataset("other", "beta-orders", "customer_id,event_time,amount\n9,2024-01-01 00:00:00,1\n");
  });
  afterAll(async () => app.close());

  it("creates versions pinned to dataset versions, lists and shows them", async () => {
    const v1 = await call("dev", "POST", "/api/v1/feature-sets", { ...spendSpec, inputs: { orders: "datasets:/orders@latest" } });
    expect(v1.status, JSON.stringify(v1.body)).toBe(200);
    expect(v1.body).toMatchObject({ name: "customer-spend", team: "alpha", version: 1, inputs: { orders: "datasets:/orders@latest" }, pinned: { orders: { ref: "datasets:/orders@1", digest: expect.stringMatching(/^sha256:/) } } });
    const v2 = await call("dev", "POST", "/api/v1/feature-sets", spendSpec);
    expect(v2.body.version).toBe(2);
    expect((await call("viewer", "GET", "/api/v1/feature-sets")).body.featureSets.map((f: { name: string; version: number }) => `${f.name}@${f.version}`)).toEqual(["customer-spend@2"]);
    expect((await call("viewer", "GET", "/api/v1/feature-sets/customer-spend/versions/1")).body.inputs).toEqual({ orders: "datasets:/orders@latest" });
    expect((await call("viewer", "POST", "/api/v1/feature-sets", spendSpec)).status).toBe(403);
    // Another team sees neither the set nor its name's contents.
    expect((await call("other", "GET", "/api/v1/feature-sets/customer-spend")).status).toBe(404);
    expect((await call("other", "GET", "/api/v1/feature-sets")).body.featureSets).toEqual([]);
  });

  it("materializes a version into a dataset version with lineage", async () => {
    const m = await call("dev", "POST", "/api/v1/feature-sets/customer-spend/versions/2/materialize", {});
    expect(m.status, JSON.stringify(m.body)).toBe(200);
    expect(m.body).toMatchObject({ featureSet: "customer-spend", version: 2, dataset: "customer-spend", rows: 3 });
    const shown = await call("viewer", "GET", `/api/v1/datasets/customer-spend/versions/${m.body.datasetVersion}`);
    expect(shown.body).toMatchObject({ lineage: { kind: "features", id: "customer-spend@2", "input:orders": "datasets:/orders@1" }, files: [{ path: "features.parquet", format: "parquet" }] });
    const got = (await rows(m.body.ref)).map((r) => `${r.customer_id}:${r.avg_amount}`).sort();
    expect(got).toEqual(["1:10", "1:20", "2:100"]);
  });

  it("joins labels to the feature values as of each label's time, never later ones", async () => {
    const features = (await call("dev", "POST", "/api/v1/feature-sets/customer-spend/versions/2/materialize", { output: "spend-features" })).body.ref as string;
    // Customer 1: a label on day 3 must see avg 10 (day 1), not 20 (day 5, the future); one on day 6 sees 20.
    // Customer 2: a label on day 2 is before its first feature (day 3): NULL. Customer 3 has no features: NULL.
    const labels = await dataset("dev", "labels", "customer_id,event_time,churned\n1,2024-01-03 00:00:00,0\n1,2024-01-06 00:00:00,1\n2,2024-01-02 00:00:00,1\n2,2024-01-03 00:00:00,0\n3,2024-01-04 00:00:00,1\n");
    const t = await call("dev", "POST", "/api/v1/training-sets", { labels, features: [features], entityKey: "customer_id", timestamp: "event_time", output: "train-set" });
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    expect(t.body).toMatchObject({ dataset: "train-set", rows: 5, columns: ["customer_id", "event_time", "churned", "avg_amount"] });
    const joined = (await rows(t.body.ref)).map((r) => `${r.customer_id}@${String(r.event_time).slice(0, 10)}=${r.avg_amount}`).sort();
    expect(joined).toEqual(["1@2024-01-03=10", "1@2024-01-06=20", "2@2024-01-02=null", "2@2024-01-03=100", "3@2024-01-04=null"]);
    const shown = await call("viewer", "GET", `/api/v1/datasets/train-set/versions/${t.body.datasetVersion}`);
    expect(shown.body.lineage).toMatchObject({ kind: "features", labels, "features:0": features });
  });

  it("refuses bad input with stable codes", async () => {
    const create = async (who: keyof typeof tokens, patch: object) => call(who, "POST", "/api/v1/feature-sets", { ...spendSpec, name: "bad-set", ...patch });
    const notSelect = await create("dev", { sql: "SELECT 1 FROM orders; DROP TABLE orders" });
    expect(notSelect.status).toBe(400);
    expect(notSelect.body.error.code).toBe("INVALID_INPUT");
    const file = await create("dev", { sql: "SELECT * FROM read_csv('/etc/passwd')" });
    expect([file.status, file.body.error.code]).toEqual([400, "INVALID_INPUT"]);
    const quoted = await create("dev", { sql: "SELECT * FROM '/etc/passwd'" });
    expect([quoted.status, quoted.body.error.code]).toEqual([400, "INVALID_INPUT"]);
    const missingRef = await create("dev", { inputs: { orders: "datasets:/no-such@1" } });
    expect([missingRef.status, missingRef.body.error.code]).toEqual([404, "NOT_FOUND"]);
    const missingVersion = await create("dev", { inputs: { orders: "datasets:/orders@9" } });
    expect([missingVersion.status, missingVersion.body.error.code]).toEqual([404, "NOT_FOUND"]);
    const otherTeams = await create("dev", { inputs: { orders: "datasets:/beta-orders@1" } });
    expect([otherTeams.status, otherTeams.body.error.code]).toEqual([404, "NOT_FOUND"]);
    // A version whose SQL drops the timestamp column: created, but materializing names the column.
    const noTs = await create("dev", { sql: "SELECT customer_id, amount FROM orders" });
    expect(noTs.status, JSON.stringify(noTs.body)).toBe(200);
    const m = await call("dev", "POST", `/api/v1/feature-sets/bad-set/versions/${noTs.body.version}/materialize`, {});
    expect([m.status, m.body.error.code]).toEqual([400, "INVALID_INPUT"]);
    expect(m.body.error.message).toContain("'event_time'");
    const labelsNoKey = await dataset("dev", "labels-nokey", "cust,event_time,churned\n1,2024-01-03 00:00:00,0\n");
    const t = await call("dev", "POST", "/api/v1/training-sets", { labels: labelsNoKey, features: ["datasets:/orders@1"], entityKey: "customer_id", timestamp: "event_time", output: "t2" });
    expect([t.status, t.body.error.code]).toEqual([400, "INVALID_INPUT"]);
    expect(t.body.error.message).toContain("'customer_id'");
    expect((await call("other", "POST", "/api/v1/feature-sets/customer-spend/versions/1/materialize", {})).status).toBe(404);
    expect((await call("dev", "POST", "/api/v1/feature-sets/customer-spend/versions/99/materialize", {})).body.error.code).toBe("NOT_FOUND");
  });
});

describe("docs/features.md", () => {
  it("its feature set YAML is what POST /api/v1/feature-sets accepts", () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(readFileSync(join(import.meta.dirname, "..", "docs", "features.md"), "utf8"))![1]!;
    expect(featureSetSpecSchema.parse(parse(block))).toMatchObject({ name: "customer-spend", entityKey: "customer_id", inputs: { orders: "datasets:/orders@3" } });
  });
});
