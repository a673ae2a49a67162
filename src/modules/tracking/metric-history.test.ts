import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";

// Issue 7, finding 12 (metric history): MLflow's get-history and Paved's own metric route
// answered a run's whole history in one response. Now a page holds at most 25,000 points (what
// MLflow's client asks for, GET_METRIC_HISTORY_MAX_RESULTS) and the rest follows a token.
describe.each(testDialects())("metric history paging on %s", (dialect) => {
  let app: App;
  let auth: Record<string, string>;
  let runId: string;
  const points = 25_003;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-history-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", ...(databaseUrl ? { databaseUrl } : {}) } }));
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
    const run = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: auth, payload: { experiment_id: "0", start_time: 1 } });
    runId = run.json().run.info.run_id;
    for (let step = 0; step < points; step += 1000) {
      const metrics = Array.from({ length: Math.min(1000, points - step) }, (_, i) => ({ key: "loss", value: 1 / (step + i + 1), timestamp: 1, step: step + i }));
      const res = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/log-batch", headers: auth, payload: { run_id: runId, metrics } });
      expect(res.statusCode).toBe(200);
    }
  }, 120_000);
  afterAll(async () => app?.close());

  const mlflow = (query: Record<string, string>) =>
    app.server.inject({ method: "GET", url: `/api/2.0/mlflow/metrics/get-history?${new URLSearchParams({ run_id: runId, metric_key: "loss", ...query })}`, headers: auth });
  const paved = (query: Record<string, string> = {}) =>
    app.server.inject({ method: "GET", url: `/api/v1/runs/${runId}/metrics/loss?${new URLSearchParams(query)}`, headers: auth });

  it("MLflow get-history: no max_results gives a bounded page and a token that yields the rest", async () => {
    const first = (await mlflow({})).json();
    expect(first.metrics).toHaveLength(25_000);
    expect(first.next_page_token).toEqual(expect.any(String));
    const rest = (await mlflow({ page_token: first.next_page_token })).json();
    expect(rest.metrics.map((m: { step: number }) => m.step)).toEqual([25_000, 25_001, 25_002]);
    expect(rest.next_page_token).toBeUndefined();
    // What the mlflow client sends: max_results=25000, then the token.
    const small = (await mlflow({ max_results: "10", page_token: first.next_page_token })).json();
    expect(small.metrics).toHaveLength(3);
    const over = await mlflow({ max_results: "25001" });
    expect(over.statusCode).toBe(400);
    expect(over.json().error_code).toBe("INVALID_PARAMETER_VALUE");
  });

  it("Paved's metric route pages the same way", async () => {
    const first = await paved();
    expect(first.statusCode).toBe(200);
    expect(first.json().history).toHaveLength(25_000);
    const rest = (await paved({ pageToken: first.json().nextPageToken })).json();
    expect(rest.history.map((p: { step: number }) => p.step)).toEqual([25_000, 25_001, 25_002]);
    expect(rest.nextPageToken).toBeUndefined();
    const page = (await paved({ limit: "2", pageToken: first.json().nextPageToken })).json();
    expect(page.history).toHaveLength(2);
    expect(page.nextPageToken).toEqual(expect.any(String));
    expect((await paved({ limit: "25001" })).statusCode).toBe(400);
  });
});
