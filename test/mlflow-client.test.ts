import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mlflowPackage from "mlflow";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";

// The package's index.js exports the class itself; its types describe it as the default export.
const MLflow = mlflowPackage as unknown as typeof mlflowPackage.default;

// Drives a real Paved server over the network with the npm `mlflow` client (a third-party MLflow
// REST client), as a stand-in for the Python client, which cannot be installed here.
describe("npm mlflow client against a real server", () => {
  let app: App;
  // Typed loosely: the package's declarations mark optional MLflow fields as required and lack
  // newer ones such as run_name.
  let client: any;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-mlflow-client-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, port: 0, logLevel: "silent" } }));
    const url = await app.listen();
    client = new MLflow({ endpoint: url, headers: { Authorization: `Bearer ${app.generatedAdminToken}` } });
    // The client prints every POST body; keep the test output readable.
    vi.spyOn(console, "log").mockImplementation(() => undefined);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await app.close();
  });

  it("creates an experiment and a run, logs, searches and reads history", async () => {
    const { experiment_id } = await client.Experiments.create({ name: "npm-client" });
    expect(typeof experiment_id).toBe("string");
    const { experiment } = await client.Experiments.get({ experiment_id });
    expect(experiment.name).toBe("npm-client");
    const { experiments } = await client.Experiments.list();
    expect(experiments.map((e: { name: string }) => e.name)).toContain("npm-client");

    const { run } = await client.Runs.create({ experiment_id, user_id: "ada", start_time: Date.now(), tags: [{ key: "mlflow.runName", value: "npm-run" }] });
    const run_id: string = run.info.run_id;
    expect(run.info.run_name).toBe("npm-run");

    for (let step = 0; step < 3; step++) {
      await client.Runs.logMetric({ run_id, key: "loss", value: 1 / (step + 1), timestamp: Date.now(), step });
    }
    await client.Runs.logParameter({ run_id, key: "lr", value: "0.01" });
    await client.Runs.logBatch({
      run_id,
      metrics: [{ key: "acc", value: 0.93, timestamp: Date.now(), step: 2 }],
      params: [{ key: "epochs", value: "3" }],
      tags: [{ key: "team", value: "ml" }],
    });
    await client.Runs.setTag({ run_id, key: "stage", value: "dev" });
    await expect(client.Runs.logParameter({ run_id, key: "lr", value: "0.1" })).rejects.toThrow(/INVALID_PARAMETER_VALUE/);

    const { runs } = await client.Runs.search({ experiment_ids: [experiment_id], filter: "metrics.acc > 0.9 and params.lr = '0.01'", order_by: ["metrics.acc DESC"], max_results: 10 });
    expect(runs).toHaveLength(1);
    expect(runs[0].data.params).toEqual([
      { key: "epochs", value: "3" },
      { key: "lr", value: "0.01" },
    ]);

    const history = await client.Metrics.getHistory({ run_id, metric_key: "loss" });
    expect(history.metrics.map((m: { step: number; value: number }) => [m.step, m.value])).toEqual([
      [0, 1],
      [1, 0.5],
      [2, 1 / 3],
    ]);

    const { run_info } = await client.Runs.update({ run_id, status: "FINISHED", end_time: Date.now() });
    expect(run_info.status).toBe("FINISHED");
    const listing = await client.Artifacts.list({ run_id });
    expect(listing.root_uri).toBe(`mlflow-artifacts:/${experiment_id}/${run_id}/artifacts`);
  });
});
