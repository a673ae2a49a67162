import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import mlflowPackage from "mlflow";
import type { App } from "../src/app.ts";
import { testDialects } from "./support/databases.ts";
import { createMembers, createTeamsTestApp } from "./support/teams.ts";

// The package's index.js exports the class itself; its types describe it as the default export.
const MLflow = mlflowPackage as unknown as typeof mlflowPackage.default;

// The unmodified npm `mlflow` client (a stand-in for the Python one) with people's own tokens on
// one server with two teams: each sees only its teams' experiments and runs, over the network.
describe.each(testDialects())("npm mlflow client with two teams (%s)", (dialect) => {
  let app: App;
  // Typed loosely, as in mlflow-client.test.ts: the package's declarations lag MLflow's API.
  const clients: Record<"ada" | "vic" | "bea", any> = { ada: undefined, vic: undefined, bea: undefined };

  beforeAll(async () => {
    const created = await createTeamsTestApp(dialect, "mlflow-client-teams");
    app = created.app;
    const url = await app.listen();
    const tokens = await createMembers(app, created.admin, ["team-a", "team-b"], {
      ada: [{ team: "team-a", role: "developer" }],
      vic: [{ team: "team-a", role: "viewer" }],
      bea: [{ team: "team-b", role: "viewer" }],
    });
    for (const name of ["ada", "vic", "bea"] as const) {
      clients[name] = new MLflow({ endpoint: url, headers: { Authorization: tokens[name].authorization } });
    }
    // The client prints every POST body; keep the test output readable.
    vi.spyOn(console, "log").mockImplementation(() => undefined);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await app?.close();
  });

  it("tracks in the user's team, shows it to the team's viewer, and hides it from another team", async () => {
    const { ada, vic, bea } = clients;
    const { experiment_id } = await ada.Experiments.create({ name: "client-a" });
    const { run } = await ada.Runs.create({ experiment_id, start_time: Date.now(), tags: [{ key: "mlflow.runName", value: "a-run" }] });
    const run_id: string = run.info.run_id;
    await ada.Runs.logBatch({ run_id, metrics: [{ key: "acc", value: 0.9, timestamp: Date.now(), step: 1 }], params: [{ key: "lr", value: "0.1" }], tags: [] });

    // A viewer of team-a reads everything and writes nothing.
    expect((await vic.Runs.get({ run_id })).run.data.params).toEqual([{ key: "lr", value: "0.1" }]);
    expect((await vic.Runs.search({ experiment_ids: [experiment_id] })).runs).toHaveLength(1);
    expect((await vic.Metrics.getHistory({ run_id, metric_key: "acc" })).metrics).toHaveLength(1);
    await expect(vic.Runs.logMetric({ run_id, key: "acc", value: 1, timestamp: Date.now(), step: 2 })).rejects.toThrow(/PERMISSION_DENIED/);
    await expect(vic.Experiments.create({ name: "vic-exp" })).rejects.toThrow(/PERMISSION_DENIED/);

    // A viewer of team-b finds nothing of it, by any path.
    await expect(bea.Experiments.get({ experiment_id })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
    await expect(bea.Runs.get({ run_id })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
    await expect(bea.Metrics.getHistory({ run_id, metric_key: "acc" })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
    await expect(bea.Artifacts.list({ run_id })).rejects.toThrow(/RESOURCE_DOES_NOT_EXIST/);
    expect((await bea.Runs.search({ experiment_ids: [experiment_id] })).runs ?? []).toEqual([]);
    expect(((await bea.Experiments.list()).experiments ?? []).map((e: { name: string }) => e.name)).not.toContain("client-a");
    expect(((await ada.Experiments.list()).experiments ?? []).map((e: { name: string }) => e.name)).toEqual(["client-a"]);
  });
});
