import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";
import { runView } from "./routes.ts";
import type { RunDetails } from "./service.ts";

function details(info: Partial<RunDetails["info"]>, tags: Record<string, string>): RunDetails {
  return {
    info: {
      run_id: "a".repeat(32),
      experiment_id: "1",
      run_name: "r",
      user_id: "u",
      status: "RUNNING",
      start_time: 1,
      end_time: null,
      lifecycle_stage: "active",
      artifact_uri: "mlflow-artifacts:/1/r/artifacts",
      source_commit: null,
      source_dirty: null,
      source_entrypoint: null,
      job_id: null,
      deleted_time: null,
      ...info,
    },
    params: [],
    tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    metrics: [],
    inputs: [],
  };
}

describe("runView", () => {
  it("takes the source from MLflow's source tags when the run was created without one", () => {
    const view = runView(details({}, { "mlflow.source.git.commit": "abc123", "paved.source.dirty": "true", "mlflow.source.name": "python train.py" }));
    expect(view.source).toEqual({ commit: "abc123", dirty: true, entrypoint: "python train.py" });
  });

  it("prefers the source recorded at creation", () => {
    const view = runView(details({ source_commit: "def456", source_dirty: 0, source_entrypoint: "main.py" }, { "mlflow.source.git.commit": "abc123" }));
    expect(view.source).toEqual({ commit: "def456", dirty: false, entrypoint: "main.py" });
  });
});

describe.each(testDialects())("the runs table's API on %s", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let experimentId: string;
  const get = (url: string) => app.server.inject({ method: "GET", url, headers: admin });
  const post = (path: string, payload: object) => app.server.inject({ method: "POST", url: `/api/2.0/mlflow${path}`, headers: admin, payload });

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "tracking-table"));
    experimentId = (await post("/experiments/create", { name: "table" })).json().experiment_id;
    for (let i = 0; i < 7; i++) {
      const run = (await post("/runs/create", { experiment_id: experimentId, run_name: `r${i}`, start_time: 1_700_000_000_000 + i })).json().run.info.run_id;
      const logged = await post("/runs/log-batch", {
        run_id: run,
        metrics: [
          { key: "loss", value: (i * 3) % 7, timestamp: 1, step: 1 },
          ...(i % 2 ? [{ key: "acc", value: i / 10, timestamp: 1, step: 1 }] : []),
        ],
        params: [{ key: "lr", value: String(i) }],
        tags: i === 0 ? [{ key: "note", value: "first" }] : [],
      });
      expect(logged.statusCode, logged.body).toBe(200);
    }
    await post("/runs/update", { run_id: (await post("/runs/create", { experiment_id: experimentId, start_time: 1 })).json().run.info.run_id, status: "FINISHED", end_time: 1_800_000_000_000 });
    await post("/runs/delete", { run_id: (await post("/runs/create", { experiment_id: experimentId, start_time: 1_900_000_000_000 })).json().run.info.run_id });
  });
  afterAll(async () => app?.close());

  it("pages through a sorted search with its page tokens, every run once, and counts the matches on request", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const query = new URLSearchParams({ experiment: experimentId, limit: "3", orderBy: "metrics.loss ASC", filter: "metrics.loss >= 0", ...(token ? { pageToken: token } : { total: "true" }) });
      const res = await get(`/api/v1/runs?${query}`);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      if (!token) expect(body.total).toBe(7);
      else expect(body.total).toBeUndefined();
      seen.push(...body.runs.map((r: { name: string }) => r.name));
      token = body.nextPageToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(["r0", "r5", "r3", "r1", "r6", "r4", "r2"]);
  });

  it("refuses a bad filter with INVALID_INPUT", async () => {
    const res = await get(`/api/v1/runs?${new URLSearchParams({ experiment: experimentId, filter: "metrics.loss <" })}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("INVALID_INPUT");
  });

  it("lists experiments with their active runs' count and last activity", async () => {
    const experiments = (await get("/api/v1/experiments")).json().experiments;
    const table = experiments.find((e: { id: string }) => e.id === experimentId);
    expect(table).toMatchObject({ name: "table", runCount: 8, lastActivityAt: 1_800_000_000_000 });
  });

  it("names the metric, param and tag keys of an experiment's runs, and NOT_FOUND for a missing experiment", async () => {
    const keys = (await get(`/api/v1/experiments/${experimentId}/keys`)).json();
    expect(keys.metrics).toEqual(["acc", "loss"]);
    expect(keys.params).toEqual(["lr"]);
    expect(keys.tags).toEqual(expect.arrayContaining(["mlflow.runName", "note"]));
    const missing = await get("/api/v1/experiments/987654321/keys");
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe("NOT_FOUND");
  });
});
