import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createTrackingModule, type TrackingService } from "./index.ts";
import { mlflow } from "./schema.ts";

function counterIds(): IdGenerator {
  let n = 0;
  return { hex32: () => (++n).toString(16).padStart(32, "0"), numeric: () => String(100 + ++n), prefixed: (p) => `${p}-${++n}` };
}

// Issue 7, finding 9's class beyond filters: regular expressions that backtrack on request data.
// On 037a407 each of these held the main thread past the test timeout.
describe("request values are checked in linear time", () => {
  it("refuses a metric value string of 200,000 digits and an 'x' (quadratic on 037a407: 20,000 took 1.4 s)", () => {
    const value = `${"1".repeat(200_000)}x`;
    expect(mlflow.logMetric.safeParse({ run_id: "r", key: "k", value }).success).toBe(false);
    for (const ok of ["1", "-1.", "+.5", "1.5e-3", "2E+10", "NaN", "-Infinity"]) {
      expect(mlflow.logMetric.safeParse({ run_id: "r", key: "k", value: ok }).success).toBe(true);
    }
    for (const bad of [".", "1e", "e5", "1.2.3", "--1"]) expect(mlflow.logMetric.safeParse({ run_id: "r", key: "k", value: bad }).success).toBe(false);
  });
});

describe.each(testDialects())("artifact paths on %s", (dialect) => {
  let database: Database & { dataDir: string };
  let service: TrackingService;

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    const config = loadConfig({ env: {}, overrides: { dataDir: database.dataDir, logLevel: "silent" } });
    service = createTrackingModule({ database, artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")), clock: { now: () => 1 }, ids: counterIds(), config, logger: createLogger("silent") }).service;
  });
  afterAll(async () => database.close());

  it("lists under a path of 200,000 slashes and a name in linear time (a `/\\/+$/` replace was quadratic)", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "paths", userId: "ada" });
    await service.putArtifact(runId, "model/model.onnx", Buffer.from("x"));
    await expect(service.listArtifacts(runId, `${"/".repeat(200_000)}x`)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(service.artifactBlobs(runId, `model${"/".repeat(200_000)}x`)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await service.listArtifacts(runId, "model///")).map((f) => f.path)).toEqual(["model/model.onnx"]);
    expect((await service.listArtifacts(runId, "///")).map((f) => f.path)).toEqual(["model"]);
  });
});
