import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { LocalArtifactStore } from "../../artifacts/index.ts";
import { loadConfig } from "../../config/index.ts";
import { createLogger, type Clock, type IdGenerator } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { createTrackingModule, type TrackingService } from "./index.ts";

function fixedClock(): Clock & { t: number } {
  const clock = { t: 1_700_000_000_000, now: () => clock.t };
  return clock;
}

/** Ids from a counter; `repeatNumeric` makes the next numeric ids repeat the last one (another control plane's). */
function counterIds(): IdGenerator & { repeatNumeric: number } {
  let n = 0;
  let last = "";
  const ids = {
    repeatNumeric: 0,
    hex32: () => (++n).toString(16).padStart(32, "0"),
    numeric: () => {
      if (ids.repeatNumeric > 0 && last) {
        ids.repeatNumeric--;
        return last;
      }
      return (last = String(100 + ++n));
    },
    prefixed: (p: string) => `${p}-${++n}`,
  };
  return ids;
}

describe.each(testDialects())("tracking service on %s", (dialect) => {
  let database: Database & { dataDir: string };
  let service: TrackingService;
  let clock: ReturnType<typeof fixedClock>;
  const ids = counterIds();

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    clock = fixedClock();
    const config = loadConfig({ env: {}, overrides: { dataDir: database.dataDir, logLevel: "silent", artifacts: { maxUploadBytes: 1024 } } });
    service = createTrackingModule({
      database,
      artifacts: new LocalArtifactStore(join(database.dataDir, "artifacts")),
      clock,
      ids,
      config,
      logger: createLogger("silent"),
    }).service;
  });
  afterAll(async () => database.close());

  it("has the Default experiment with id 0 and creates experiments once", async () => {
    expect((await service.getExperimentByName("Default")).experiment_id).toBe("0");
    const id = await service.ensureExperiment("churn", "default");
    expect(await service.ensureExperiment("churn", "default")).toBe(id);
    await expect(service.createExperiment({ name: "churn", team: "default" })).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    await expect(service.getExperiment("404")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("creates an experiment whose first id was taken (by another control plane) under a new id, and gives up after three", async () => {
    const taken = await service.createExperiment({ name: "first-taker", team: "default" });
    ids.repeatNumeric = 1;
    const next = await service.createExperiment({ name: "second-taker", team: "default" });
    expect(next).not.toBe(taken);
    expect((await service.getExperiment(taken)).name).toBe("first-taker");
    expect((await service.getExperiment(next)).name).toBe("second-taker");
    ids.repeatNumeric = 3;
    await expect(service.createExperiment({ name: "unlucky", team: "default" })).rejects.toThrow();
    ids.repeatNumeric = 0;
    await expect(service.getExperimentByName("unlucky")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("keeps a job of another team out of an experiment: its name is taken", async () => {
    const id = await service.ensureExperiment("owned", "default");
    await expect(service.ensureExperiment("owned", "risk")).rejects.toMatchObject({ code: "ALREADY_EXISTS" });
    expect(await service.experimentResource(id)).toMatchObject({ kind: "experiment", team: "default" });
    const other = await service.ensureExperiment("risk-only", "risk");
    expect((await service.getExperiment(other)).team_id).toBe("risk");
  });

  it("creates runs with a proxy artifact URI, source and the run-name tag", async () => {
    const experimentId = await service.ensureExperiment("runs", "default");
    const { runId, artifactUri } = await service.createRun({
      experimentId,
      runName: "first",
      userId: "ada",
      jobId: "job-1",
      source: { commit: "abc", dirty: true, entrypoint: "train.py" },
      tags: { team: "ml" },
    });
    expect(artifactUri).toBe(`mlflow-artifacts:/${experimentId}/${runId}/artifacts`);
    const run = await service.getRun(runId);
    expect(run.info).toMatchObject({ run_name: "first", user_id: "ada", status: "RUNNING", job_id: "job-1", source_commit: "abc", source_dirty: 1 });
    expect(run.tags).toEqual([
      { key: "mlflow.runName", value: "first" },
      { key: "team", value: "ml" },
    ]);
    await service.finishRun(runId, "FINISHED", clock.t + 5);
    expect((await service.getRun(runId)).info).toMatchObject({ status: "FINISHED", end_time: clock.t + 5 });
  });

  it("keeps params write-once: the same value again is fine, a new value is INVALID_INPUT", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "p", userId: "u" });
    await service.logParams(runId, { lr: "0.01", layers: "3" });
    await service.logParams(runId, { lr: "0.01" });
    await expect(service.logParams(runId, { lr: "0.02" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(
      service.logBatch(runId, { params: [{ key: "x", value: "1" }, { key: "x", value: "2" }] }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect((await service.getRun(runId)).params).toEqual([
      { key: "layers", value: "3" },
      { key: "lr", value: "0.01" },
    ]);
  });

  it("refuses a batch for a deleted run (checked in the write's own transaction) and takes it again after a restore; an unknown run is NOT_FOUND", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "d", userId: "u" });
    await service.logBatch(runId, { metrics: [{ key: "loss", value: 1, step: 0, timestamp: 1 }] });
    await service.deleteRun(runId);
    await expect(service.logBatch(runId, { metrics: [{ key: "loss", value: 2, step: 1, timestamp: 2 }] })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: `run '${runId}' is deleted; restore it (runs/restore) before logging to it`,
    });
    await service.restoreRun(runId);
    await service.logBatch(runId, { metrics: [{ key: "loss", value: 3, step: 2, timestamp: 3 }] });
    expect((await service.getMetricHistory(runId, "loss")).points.map((m) => m.value)).toEqual([1, 3]);
    await expect(service.logBatch("no-such-run", { metrics: [{ key: "loss", value: 1, step: 0, timestamp: 1 }] })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("keeps full metric history and the latest point (highest step, then latest timestamp)", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "m", userId: "u" });
    await service.logMetrics(runId, [
      { key: "loss", value: 3, step: 0, timestamp: 10 },
      { key: "loss", value: 2, step: 2, timestamp: 11 },
      { key: "loss", value: 2.5, step: 1, timestamp: 12 },
      { key: "acc", value: NaN, step: 0, timestamp: 10 },
    ]);
    await service.logMetrics(runId, [{ key: "loss", value: 1.5, step: 1, timestamp: 99 }]);
    await service.logMetrics(runId, [{ key: "loss", value: 1.9, step: 2, timestamp: 20 }]);
    const run = await service.getRun(runId);
    const latest = Object.fromEntries(run.metrics.map((m) => [m.key, m]));
    expect(latest.loss).toMatchObject({ value: 1.9, step: 2, timestamp: 20 });
    expect(latest.acc).toMatchObject({ is_nan: 1 });
    const { points } = await service.getMetricHistory(runId, "loss");
    expect(points.map((p) => [p.step, p.value])).toEqual([
      [0, 3],
      [1, 2.5],
      [1, 1.5],
      [2, 2],
      [2, 1.9],
    ]);
    const first = await service.getMetricHistory(runId, "loss", { maxResults: 2 });
    expect(first.points).toHaveLength(2);
    const second = await service.getMetricHistory(runId, "loss", { maxResults: 10, pageToken: first.nextPageToken! });
    expect(second.points).toHaveLength(3);
    expect(second.nextPageToken).toBeUndefined();
    expect(Number.isNaN((await service.getMetricHistory(runId, "acc")).points[0]!.value)).toBe(true);
  });

  it("enforces batch limits and key rules", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "l", userId: "u" });
    const many = Array.from({ length: 1001 }, (_, i) => ({ key: "m", value: i, step: i, timestamp: 1 }));
    await expect(service.logMetrics(runId, many)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    const params = Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: "v" }));
    await expect(service.logBatch(runId, { params })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(service.logParams(runId, { big: "x".repeat(6001) })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    for (const key of ["../x", "/abs", "a//b", "bad*char", ""]) {
      await expect(service.logMetrics(runId, [{ key, value: 1, step: 0, timestamp: 1 }])).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(service.logMetrics("nope", [{ key: "a", value: 1, step: 0, timestamp: 1 }])).rejects.toMatchObject({ code: "NOT_FOUND" });
    await service.logMetrics(runId, many.slice(0, 1000));
    expect((await service.getMetricHistory(runId, "m")).points).toHaveLength(1000);
  });

  it("renames a run through the mlflow.runName tag and deletes tags", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "old", userId: "u" });
    await service.setTags(runId, { "mlflow.runName": "new", keep: "1", drop: "2" });
    await service.deleteTag(runId, "drop");
    const run = await service.getRun(runId);
    expect(run.info.run_name).toBe("new");
    expect(run.tags.map((t) => t.key)).toEqual(["keep", "mlflow.runName"]);
    await expect(service.deleteTag(runId, "drop")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("records dataset inputs once per (name, digest)", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "d", userId: "u" });
    const input = { name: "train", digest: "d1", sourceType: "local", source: "/data/train.csv" };
    await service.logInputs(runId, [input]);
    await service.logInputs(runId, [input, { ...input, digest: "d2", context: "eval" }]);
    expect((await service.getRun(runId)).inputs.map((i) => [i.digest, i.context])).toEqual([
      ["d1", null],
      ["d2", "eval"],
    ]);
  });

  it("stores, lists and streams artifacts, confined and size-limited", async () => {
    const { runId } = await service.createRun({ experimentId: "0", runName: "a", userId: "u" });
    await service.putArtifact(runId, "model/weights.bin", Buffer.from("weights"));
    await service.putArtifact(runId, "notes.txt", Readable.from([Buffer.from("hello")]));
    await service.putArtifact(runId, "model/sub/x.json", Buffer.from("{}"));
    expect(await service.listArtifacts(runId)).toEqual([
      { path: "model", isDir: true, size: null },
      { path: "notes.txt", isDir: false, size: 5 },
    ]);
    expect(await service.listArtifacts(runId, "model")).toEqual([
      { path: "model/sub", isDir: true, size: null },
      { path: "model/weights.bin", isDir: false, size: 7 },
    ]);
    expect(await text((await service.openArtifact(runId, "notes.txt")).stream)).toBe("hello");
    for (const path of ["../x", "/etc/passwd", "a\\b"]) {
      await expect(service.putArtifact(runId, path, Buffer.from("x"))).rejects.toMatchObject({ code: "INVALID_INPUT" });
    }
    await expect(service.putArtifact(runId, "big", Buffer.alloc(2048))).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(service.openArtifact(runId, "missing")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  describe("search", () => {
    let experimentId: string;
    const ids: string[] = [];
    beforeAll(async () => {
      experimentId = await service.ensureExperiment("search", "default");
      for (let i = 0; i < 5; i++) {
        clock.t += 1000;
        const { runId } = await service.createRun({ experimentId, runName: i % 2 ? `odd-${i}` : `Even-${i}`, userId: "u" });
        ids.push(runId);
        await service.logBatch(runId, {
          metrics: [{ key: "acc", value: i / 10, step: 0, timestamp: 1 }],
          params: [{ key: "lr", value: i < 3 ? "0.01" : "0.1" }],
          tags: [{ key: "team", value: i % 2 ? "a" : "b" }],
        });
        if (i === 4) await service.finishRun(runId, "FINISHED", clock.t);
      }
    });

    const names = async (filter?: string, orderBy?: string[]) =>
      (await service.searchRuns({ experimentIds: [experimentId], ...(filter ? { filter } : {}), ...(orderBy ? { orderBy } : {}) })).runs.map((r) => r.info.run_name);

    it("filters on metrics, params, tags and attributes", async () => {
      expect(await names("metrics.acc > 0.25")).toEqual(["Even-4", "odd-3"]);
      expect(await names("params.lr = '0.01' and tags.team = 'a'")).toEqual(["odd-1"]);
      expect(await names("attributes.status = 'FINISHED'")).toEqual(["Even-4"]);
      expect(await names("tags.mlflow.runName LIKE 'odd%'")).toEqual(["odd-3", "odd-1"]);
      expect(await names("attributes.run_name LIKE 'even%'")).toEqual([]);
      expect(await names("attributes.run_name ILIKE 'even%'")).toEqual(["Even-4", "Even-2", "Even-0"]);
      expect(await names(`attributes.run_id IN ('${ids[0]}', '${ids[1]}')`)).toEqual(["odd-1", "Even-0"]);
      expect(await names("metrics.missing > 0")).toEqual([]);
    });

    it("orders by metrics, params and attributes (newest first by default)", async () => {
      expect(await names(undefined, ["metrics.acc ASC"])).toEqual(["Even-0", "odd-1", "Even-2", "odd-3", "Even-4"]);
      expect(await names(undefined, ["params.lr DESC", "attributes.start_time ASC"])).toEqual(["odd-3", "Even-4", "Even-0", "odd-1", "Even-2"]);
      expect(await names()).toEqual(["Even-4", "odd-3", "Even-2", "odd-1", "Even-0"]);
    });

    it("pages with an opaque token", async () => {
      const first = await service.searchRuns({ experimentIds: [experimentId], maxResults: 2 });
      const second = await service.searchRuns({ experimentIds: [experimentId], maxResults: 2, pageToken: first.nextPageToken! });
      const third = await service.searchRuns({ experimentIds: [experimentId], maxResults: 2, pageToken: second.nextPageToken! });
      expect([...first.runs, ...second.runs, ...third.runs].map((r) => r.info.run_name)).toEqual(await names());
      expect(third.nextPageToken).toBeUndefined();
      await expect(service.searchRuns({ pageToken: "garbage" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    });

    it("hides deleted runs unless asked", async () => {
      await service.deleteRun(ids[0]!);
      expect(await names()).not.toContain("Even-0");
      const deleted = await service.searchRuns({ experimentIds: [experimentId], viewType: "DELETED_ONLY" });
      expect(deleted.runs.map((r) => r.info.run_name)).toEqual(["Even-0"]);
      await expect(service.logMetrics(ids[0]!, [{ key: "a", value: 1, step: 0, timestamp: 1 }])).rejects.toMatchObject({ code: "INVALID_INPUT" });
      await service.restoreRun(ids[0]!);
      expect(await names()).toContain("Even-0");
    });
  });
});
