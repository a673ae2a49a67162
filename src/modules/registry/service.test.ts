import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type Clock, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { exportLinearOnnx } from "../../../test/support/onnx.ts";
import { createTrackingModule, type TrackingService } from "../tracking/index.ts";
import { createRegistryModule, type LoggedModelService, type RegistryService } from "./index.ts";

function counterIds(): IdGenerator {
  let n = 0;
  return { hex32: () => (++n).toString(16).padStart(32, "0"), numeric: () => String(100 + ++n), prefixed: (p) => `${p}-${++n}` };
}

describe.each(testDialects())("registry service on %s", (dialect) => {
  let database: Database & { dataDir: string };
  let tracking: TrackingService;
  let registry: RegistryService;
  let loggedModels: LoggedModelService;
  const clock: Clock & { t: number } = { t: 1_700_000_000_000, now: () => clock.t };
  const onnx = exportLinearOnnx();

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    const config = loadConfig({ env: {}, overrides: { dataDir: database.dataDir, logLevel: "silent" } });
    const deps = { database, artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")), clock, ids: counterIds(), config, logger: createLogger("silent") };
    tracking = createTrackingModule(deps).service;
    const module = createRegistryModule({ ...deps, tracking });
    registry = module.service;
    loggedModels = module.loggedModels;
  });
  afterAll(async () => database.close());

  async function trainedRun(): Promise<string> {
    const experimentId = await tracking.ensureExperiment("churn", "default");
    const { runId } = await tracking.createRun({ experimentId, runName: "train", userId: "ada", tags: { "mlflow.source.git.commit": "abc1234" } });
    await tracking.logInputs(runId, [{ name: "customers", digest: "d1g3st", sourceType: "local", source: "data/customers.csv", context: "training" }]);
    await tracking.putArtifact(runId, "model/model.onnx", onnx);
    await tracking.putArtifact(runId, "model/MLmodel", Buffer.from("flavors: {}\n"));
    await tracking.putArtifact(runId, "metrics.txt", Buffer.from("loss 0.1\n"));
    return runId;
  }

  it("registers a version: copies the files, reads the ONNX signature and captures lineage", async () => {
    const runId = await trainedRun();
    const v = await registry.registerVersion({ name: "churn", source: `runs:/${runId}/model`, description: "first", userId: "ada" });
    expect(v).toMatchObject({ name: "churn", version: 1, status: "READY", run_id: runId, description: "first", user_id: "ada", aliases: [] });
    expect((await registry.files("churn", 1)).map((f) => f.path)).toEqual(["MLmodel", "model.onnx"]);
    expect(JSON.parse(v.signature!)).toEqual({
      file: "model.onnx",
      inputs: [{ name: "features", type: "float32", shape: ["batch", 4] }],
      outputs: [{ name: "scores", type: "float32", shape: ["batch", 2] }],
    });
    expect(JSON.parse(v.lineage!)).toEqual({
      runId,
      experimentId: expect.any(String),
      commit: "abc1234",
      datasets: [{ name: "customers", digest: "d1g3st", source: "data/customers.csv", sourceType: "local", context: "training" }],
      capturedAt: clock.t,
    });
    // The copy outlives the run's own rows.
    await database.db.deleteFrom("artifacts").where("run_id", "=", runId).execute();
    await tracking.deleteRun(runId);
    expect(await text((await registry.openFile("churn", 1, "MLmodel")).stream)).toBe("flavors: {}\n");
  });

  it("numbers versions per model and never reuses a deleted number", async () => {
    const runId = await trainedRun();
    expect((await registry.createVersion({ name: "churn", source: `runs:/${runId}/model`, userId: "ada" })).version).toBe(2);
    const copy = await registry.createVersion({ name: "churn", source: "models:/churn/2", userId: "ada" });
    expect(copy.version).toBe(3);
    expect(copy.run_id).toBe(runId);
    await registry.deleteVersion("churn", 3);
    expect((await registry.createVersion({ name: "churn", source: `runs:/${runId}/metrics.txt`, userId: "ada" })).version).toBe(4);
    expect((await registry.files("churn", 4)).map((f) => f.path)).toEqual(["metrics.txt"]);
    await expect(registry.getVersion("churn", 3)).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses sources it must not follow and runs or paths that do not exist", async () => {
    const runId = await trainedRun();
    for (const source of ["file:///etc/passwd", "http://example.com/m.onnx", `runs:/${runId}/../x`, `runs:/${runId}/model#x`]) {
      await expect(registry.createVersion({ name: "churn", source, userId: "ada" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(registry.createVersion({ name: "churn", source: "runs:/ffff/model", userId: "ada" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(registry.createVersion({ name: "churn", source: `runs:/${runId}/nothing-here`, userId: "ada" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(registry.createVersion({ name: "nope", source: `runs:/${runId}/model`, userId: "ada" })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("sets, moves, resolves and deletes aliases", async () => {
    await registry.setAlias("churn", "champion", "1");
    expect((await registry.getVersionByAlias("churn", "champion")).version).toBe(1);
    await registry.setAlias("churn", "champion", 2);
    const moved = await registry.getVersionByAlias("churn", "champion");
    expect(moved.version).toBe(2);
    expect(moved.aliases).toEqual(["champion"]);
    expect((await registry.getModel("churn")).aliases).toEqual([{ alias: "champion", version: 2 }]);
    for (const bad of ["latest", "v3", "with space"]) await expect(registry.setAlias("churn", bad, 1)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(registry.setAlias("churn", "staging", 99)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await registry.deleteAlias("churn", "champion");
    await expect(registry.getVersionByAlias("churn", "champion")).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(registry.deleteAlias("churn", "champion")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("searches models and versions with filters, order and paging", async () => {
    for (const name of ["fraud-a", "fraud-b", "other"]) await registry.createModel({ name, team: "default", userId: "ada", tags: [{ key: "team", value: name.startsWith("fraud") ? "risk" : "x" }] });
    await expect(registry.createModel({ name: "other", team: "default", userId: "ada" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    const first = await registry.searchModels({ filter: "name LIKE 'fraud%'", maxResults: 1, orderBy: ["name DESC"] });
    expect(first.models.map((m) => m.name)).toEqual(["fraud-b"]);
    const second = await registry.searchModels({ filter: "name LIKE 'fraud%'", maxResults: 1, orderBy: ["name DESC"], pageToken: first.nextPageToken });
    expect(second.models.map((m) => m.name)).toEqual(["fraud-a"]);
    expect(second.nextPageToken).toBeUndefined();
    expect((await registry.searchModels({ filter: "tags.team = 'risk' and name = 'fraud-a'" })).models.map((m) => m.name)).toEqual(["fraud-a"]);
    const runId = (await registry.getVersion("churn", 2)).run_id!;
    const byRun = await registry.searchVersions({ filter: `run_id = '${runId}'`, orderBy: ["version_number ASC"] });
    expect(byRun.versions.map((v) => v.version)).toEqual([2, 4]);
    expect((await registry.searchVersions({ filter: "name = 'churn'" })).versions).toHaveLength(3);
    await expect(registry.searchModels({ filter: "bogus = 'x'" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await registry.renameModel("other", "renamed");
    expect((await registry.getModel("renamed")).name).toBe("renamed");
    await registry.deleteModel("renamed");
    await expect(registry.getModel("renamed")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("registers from an MLflow 3 logged model, by id and by runs:/<run>/<name>", async () => {
    const experimentId = await tracking.ensureExperiment("churn", "default");
    const { runId } = await tracking.createRun({ experimentId, runName: "v3", userId: "ada" });
    const logged = await loggedModels.create({ experimentId, name: "net", sourceRunId: runId, userId: "ada" });
    expect(logged.status).toBe("PENDING");
    const { Readable } = await import("node:stream");
    await loggedModels.putArtifact(logged.model_id, "model.onnx", Readable.from([onnx]));
    expect((await loggedModels.finalize(logged.model_id, "READY")).status).toBe("READY");
    const byId = await registry.createVersion({ name: "churn", source: logged.artifact_location, userId: "ada" });
    expect(byId).toMatchObject({ logged_model_id: logged.model_id, run_id: runId });
    expect(JSON.parse(byId.signature!).inputs[0].name).toBe("features");
    const byRun = await registry.createVersion({ name: "churn", source: `runs:/${runId}/net`, userId: "ada" });
    expect(byRun.logged_model_id).toBe(logged.model_id);
    const found = await loggedModels.search({ experimentIds: [experimentId], filter: `source_run_id = '${runId}' AND name = 'net'` });
    expect(found.models.map((m) => m.model_id)).toEqual([logged.model_id]);
  });
});
