import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";
import { testDialects, testPostgresUrl } from "../../../test/support/databases.ts";
import { runPaved } from "../../../test/support/cli.ts";
import { createMembers, type AuthHeaders } from "../../../test/support/teams.ts";
import { BLOB_REFERENCES, NOT_BLOBS } from "./gc.ts";

// Issue 15, item 4: space comes back. Deleted runs are restorable for tracking.retentionDays, then
// garbage collection removes their rows and the blobs nothing else names, and leaves a tombstone.
const api = "/api/2.0/mlflow";
const proxy = "/api/2.0/mlflow-artifacts/artifacts";
const DAY = 86_400_000;
const RUN_TABLES = ["metric_chunks", "latest_metrics", "params", "tags", "dataset_inputs", "artifacts", "run_outputs"] as const;

describe.each(testDialects())("run garbage collection (%s)", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let ada: AuthHeaders;
  let outsider: AuthHeaders;
  let dataDir: string;
  let now = Date.UTC(2026, 0, 10);
  const clock = { now: () => now };

  const call = (who: AuthHeaders, method: "GET" | "POST" | "PUT", url: string, payload?: object) =>
    app.server.inject({ method, url, headers: who, ...(payload !== undefined ? { payload } : {}) });
  const post = (who: AuthHeaders, path: string, payload: object) => call(who, "POST", `${api}${path}`, payload);
  const gc = (who: AuthHeaders, body: object) => call(who, "POST", "/api/v1/admin/gc", body);
  const blobPath = (digest: string) => join(dataDir, "artifacts", "sha256", digest.slice(0, 2), digest.slice(2));

  async function runWithData(experimentId: string, files: Record<string, string> = { "model/weights.bin": "weights", "notes.txt": "notes" }): Promise<string> {
    const run = await post(ada, "/runs/create", { experiment_id: experimentId, start_time: now });
    expect(run.statusCode, run.body).toBe(200);
    const runId: string = run.json().run.info.run_id;
    const metrics = Array.from({ length: 50 }, (_, i) => ({ key: "loss", value: 1 / (i + 1), timestamp: now, step: i }));
    const logged = await post(ada, "/runs/log-batch", { run_id: runId, metrics, params: [{ key: "lr", value: "0.1" }], tags: [{ key: "stage", value: "dev" }] });
    expect(logged.statusCode, logged.body).toBe(200);
    const inputs = await post(ada, "/runs/log-inputs", { run_id: runId, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: "/data" } }] });
    expect(inputs.statusCode, inputs.body).toBe(200);
    for (const [path, body] of Object.entries(files)) {
      const put = await app.server.inject({ method: "PUT", url: `${proxy}/${experimentId}/${runId}/artifacts/${path}`, headers: { ...ada, "content-type": "application/octet-stream" }, payload: Buffer.from(body) });
      expect(put.statusCode, put.body).toBe(200);
    }
    return runId;
  }

  async function rowsOf(runId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const table of [...RUN_TABLES, "runs"] as const) {
      const r = await app.database.db.selectFrom(table).select((eb) => eb.fn.countAll<number | string>().as("n")).where("run_id", "=", runId).executeTakeFirstOrThrow();
      out[table] = Number(r.n);
    }
    return out;
  }

  async function digestsOf(runId: string): Promise<string[]> {
    return (await app.database.db.selectFrom("artifacts").select("digest").where("run_id", "=", runId).execute()).map((r) => r.digest);
  }

  let experimentId: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "paved-gc-"));
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    const config = loadConfig({
      env: {},
      overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, tracking: { retentionDays: 30, gcIntervalMinutes: 0, gcMinBlobAgeSeconds: 0 }, ...(databaseUrl ? { databaseUrl } : {}) },
    });
    app = await createApp(config, { clock });
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    ({ ada, outsider } = await createMembers(app, admin, ["team-a", "team-b"], { ada: [{ team: "team-a", role: "developer" }], outsider: [{ team: "team-b", role: "developer" }] }));
    const created = await post(ada, "/experiments/create", { name: "gc-exp", tags: [{ key: "paved.team", value: "team-a" }] });
    expect(created.statusCode, created.body).toBe(200);
    experimentId = created.json().experiment_id;
  });
  afterAll(async () => app?.close());

  it("restores a deleted run within the retention period, with everything it had; gc leaves it alone", async () => {
    const runId = await runWithData(experimentId);
    expect((await post(ada, "/runs/delete", { run_id: runId })).statusCode).toBe(200);
    now += 29 * DAY;
    const report = await gc(admin, { dryRun: false });
    expect(report.statusCode, report.body).toBe(200);
    expect(await rowsOf(runId)).toMatchObject({ runs: 1, metric_chunks: 1, params: 1, artifacts: 2 });
    expect((await post(ada, "/runs/restore", { run_id: runId })).statusCode).toBe(200);
    const got = await call(ada, "GET", `${api}/runs/get?run_id=${runId}`);
    expect(got.json().run.info.lifecycle_stage).toBe("active");
    expect(got.json().run.data.params).toEqual([{ key: "lr", value: "0.1" }]);
  });

  it("dry-run changes nothing and reports what the real pass then frees; the run's rows and files go, a tombstone answers", async () => {
    const runId = await runWithData(experimentId, { "a.bin": "only-in-this-run-a", "b.bin": "only-in-this-run-b" });
    const digests = await digestsOf(runId);
    const quotaBefore = (await call(ada, "GET", "/api/v1/teams/team-a/quotas")).json();
    expect((await post(ada, "/runs/delete", { run_id: runId })).statusCode).toBe(200);
    const deletedAt = now;
    now += 31 * DAY;
    const storage = (await call(ada, "GET", "/api/v1/teams/team-a/storage")).json();
    expect(storage.pendingCollection.runs).toBeGreaterThanOrEqual(1);
    expect(storage.pendingCollection.artifactBytes).toBeGreaterThanOrEqual(36);

    const dry = await gc(admin, { dryRun: true });
    expect(dry.statusCode, dry.body).toBe(200);
    expect(await rowsOf(runId)).toMatchObject({ runs: 1, metric_chunks: 1, artifacts: 2 });
    for (const d of digests) expect(existsSync(blobPath(d))).toBe(true);

    const real = await gc(admin, { dryRun: false });
    expect(real.statusCode, real.body).toBe(200);
    const totals = (r: Record<string, unknown>) => ({ runs: r.runs, metricPoints: r.metricPoints, metricBytes: r.metricBytes, artifactFiles: r.artifactFiles, blobsRemoved: r.blobsRemoved, blobBytesRemoved: r.blobBytesRemoved, bytesFreed: r.bytesFreed, teams: r.teams });
    expect(totals(real.json())).toEqual(totals(dry.json()));
    expect(real.json()).toMatchObject({ dryRun: false, runs: 1, metricPoints: 50, artifactFiles: 2, blobsRemoved: 2, blobBytesRemoved: 36, params: 1, tags: 3, datasetInputs: 1 });
    expect(real.json().metricBytes).toBeGreaterThan(0);
    expect(real.json().teams).toEqual([expect.objectContaining({ team: "team-a", runs: 1, blobBytesRemoved: 36 })]);

    expect(await rowsOf(runId)).toEqual({ metric_chunks: 0, latest_metrics: 0, params: 0, tags: 0, dataset_inputs: 0, artifacts: 0, run_outputs: 0, runs: 0 });
    for (const d of digests) expect(existsSync(blobPath(d))).toBe(false);
    expect(await app.database.db.selectFrom("gc_blobs").selectAll().execute()).toEqual([]);

    // The ledger stops counting the collected run's bytes.
    const quotaAfter = (await call(ada, "GET", "/api/v1/teams/team-a/quotas")).json();
    const used = (q: { lines: { resource: string; used: number }[] }) => q.lines.find((l) => l.resource === "storageBytes")!.used;
    expect(used(quotaAfter)).toBe(used(quotaBefore) - 36);
    const storageAfter = (await call(ada, "GET", "/api/v1/teams/team-a/storage")).json();
    expect(storageAfter.quotaCounted).toBe(used(quotaAfter));
    expect(storageAfter.collected.runs).toBeGreaterThanOrEqual(1);

    // runs/get, runs/restore and logging answer that it was collected, and when.
    for (const answer of [
      await call(ada, "GET", `${api}/runs/get?run_id=${runId}`),
      await post(ada, "/runs/restore", { run_id: runId }),
      await post(ada, "/runs/log-batch", { run_id: runId, metrics: [{ key: "loss", value: 1, timestamp: now, step: 99 }] }),
      await call(ada, "GET", `/api/v1/runs/${runId}`),
    ]) {
      expect(answer.statusCode, answer.body).toBe(404);
      const message: string = answer.json().message ?? answer.json().error.message;
      expect(answer.json().error_code ?? answer.json().error.code).toMatch(/RESOURCE_DOES_NOT_EXIST|NOT_FOUND/);
      expect(message).toContain(`garbage-collected at ${new Date(now).toISOString()}, 31 days after it was deleted`);
    }
    // To another team the collected run is one that never existed, and team-a's storage is not theirs to read.
    const missing = "0".repeat(32);
    for (const [url, body] of [
      [`${api}/runs/get?run_id=${runId}`, undefined],
      [`/api/v1/runs/${runId}`, undefined],
    ] as const) {
      const hidden = await call(outsider, "GET", url, body);
      const absent = await call(outsider, "GET", url.replace(runId, missing), body);
      expect(absent.statusCode).toBe(404);
      expect({ status: hidden.statusCode, body: hidden.body.replaceAll(runId, missing) }).toEqual({ status: absent.statusCode, body: absent.body });
    }
    const foreignStorage = await call(outsider, "GET", "/api/v1/teams/team-a/storage");
    expect([403, 404]).toContain(foreignStorage.statusCode);
    expect(foreignStorage.body).not.toContain("quotaCounted");
    expect((await call(outsider, "GET", "/api/v1/storage")).json().teams.map((t: { team: string }) => t.team)).toEqual(["team-b"]);
    const tombstone = await app.database.db.selectFrom("run_tombstones").selectAll().where("run_id", "=", runId).executeTakeFirstOrThrow();
    expect(tombstone).toMatchObject({ experiment_id: experimentId, team_id: "team-a", deleted_time: deletedAt, collected_at: now, metric_points: 50, artifact_files: 2 });
  });

  it("keeps the files a registered model version names, and says why", async () => {
    const runId = await runWithData(experimentId, { "model/model.bin": "registered-bytes", "scratch.txt": "scratch-bytes" });
    const registered = await call(ada, "POST", "/api/v1/models/gc-model/versions", { source: `runs:/${runId}/model` });
    expect(registered.statusCode, registered.body).toBe(200);
    const [modelDigest, scratchDigest] = await Promise.all(["model/model.bin", "scratch.txt"].map(async (p) => (await app.database.db.selectFrom("artifacts").select("digest").where("run_id", "=", runId).where("path", "=", p).executeTakeFirstOrThrow()).digest));
    expect((await post(ada, "/runs/delete", { run_id: runId })).statusCode).toBe(200);
    const report = (await gc(admin, { dryRun: false, olderThan: "0s" })).json();
    expect(report.kept).toContainEqual({ digest: modelDigest, size: 16, reason: "named by a registered model version's file" });
    expect(existsSync(blobPath(modelDigest!))).toBe(true);
    expect(existsSync(blobPath(scratchDigest!))).toBe(false);
    const file = await call(ada, "GET", "/api/v1/models/gc-model/versions/1/files/content?path=model.bin");
    if (file.statusCode === 200) expect(file.body).toBe("registered-bytes");
  });

  it("removes blobs a crashed pass left queued after its commit (orphans), and keeps a blob a live run still names", async () => {
    const shared = await runWithData(experimentId, { "shared.bin": "shared-between-runs" });
    const other = await runWithData(experimentId, { "copy.bin": "shared-between-runs" });
    const [digest] = await digestsOf(shared);
    expect(await digestsOf(other)).toEqual([digest]);
    expect((await post(ada, "/runs/delete", { run_id: shared })).statusCode).toBe(200);
    const report = (await gc(admin, { dryRun: false, olderThan: "0s" })).json();
    expect(report.kept).toContainEqual(expect.objectContaining({ digest, reason: "named by another run's artifact" }));
    expect(existsSync(blobPath(digest!))).toBe(true);
    // A pass that committed and crashed before removing files: the next one finishes.
    expect((await post(ada, "/runs/delete", { run_id: other })).statusCode).toBe(200);
    await app.database.db.transaction().execute(async (trx) => {
      for (const table of RUN_TABLES) await trx.deleteFrom(table).where("run_id", "=", other).execute();
      await trx.deleteFrom("runs").where("run_id", "=", other).execute();
      await trx.insertInto("gc_blobs").values({ digest: digest!, size: 19, team_id: "team-a", queued_at: now }).execute();
    });
    const next = (await gc(admin, { dryRun: false, olderThan: "0s" })).json();
    expect(next.blobsRemoved).toBe(1);
    expect(existsSync(blobPath(digest!))).toBe(false);
  });

  it("collects the runs of a deleted experiment after the retention period", async () => {
    const exp = (await post(ada, "/experiments/create", { name: "gc-doomed", tags: [{ key: "paved.team", value: "team-a" }] })).json().experiment_id;
    const runId = await runWithData(exp, { "x.bin": "doomed-experiment-file" });
    expect((await post(ada, "/experiments/delete", { experiment_id: exp })).statusCode).toBe(200);
    now += 10 * DAY;
    expect((await gc(admin, { dryRun: false })).json().runs).toBe(0);
    now += 21 * DAY;
    const report = (await gc(admin, { dryRun: false })).json();
    expect(report.runs).toBe(1);
    expect((await rowsOf(runId)).runs).toBe(0);
  });

  it("never acknowledges a batch and then loses it: log-batch racing restore and gc, with real concurrency", async () => {
    for (let round = 0; round < 6; round++) {
      const runId = await runWithData(experimentId, {});
      expect((await post(ada, "/runs/delete", { run_id: runId })).statusCode).toBe(200);
      const batches = Array.from({ length: 12 }, (_, i) => post(ada, "/runs/log-batch", { run_id: runId, metrics: [{ key: "race", value: i, timestamp: now, step: i }], params: [{ key: `p${i}`, value: "x" }] }));
      const racing = await Promise.all([
        // Alternate which one is asked first, so both orders happen.
        ...(round % 2 ? [post(ada, "/runs/restore", { run_id: runId }), gc(admin, { dryRun: false, olderThan: "0s" })] : [gc(admin, { dryRun: false, olderThan: "0s" }), post(ada, "/runs/restore", { run_id: runId })]),
        ...batches,
      ]);
      const acknowledged = racing.slice(2).flatMap((r, i) => (r.statusCode === 200 ? [i] : []));
      for (const r of racing.slice(2)) expect([200, 400, 404], r.body).toContain(r.statusCode);
      const rows = await rowsOf(runId);
      if (rows.runs === 0) {
        expect(acknowledged).toEqual([]);
        expect(rows).toEqual({ metric_chunks: 0, latest_metrics: 0, params: 0, tags: 0, dataset_inputs: 0, artifacts: 0, run_outputs: 0, runs: 0 });
      } else {
        const history = await call(ada, "GET", `${api}/metrics/get-history?run_id=${runId}&metric_key=race`);
        const steps = acknowledged.length ? (history.json().metrics as { step: number }[]).map((m) => Number(m.step)).sort((a, b) => a - b) : [];
        expect(steps).toEqual(acknowledged);
      }
    }
    // Nothing hangs off a run that is gone.
    for (const table of RUN_TABLES) {
      const orphans = await app.database.db
        .selectFrom(table)
        .select("run_id")
        .where((eb) => eb.not(eb.exists(eb.selectFrom("runs").select("runs.run_id").whereRef("runs.run_id", "=", `${table}.run_id` as never))))
        .execute();
      expect(orphans, table).toEqual([]);
    }
  });

  it("lets only platform admins collect: a team developer and a job token are refused", async () => {
    const developer = await gc(ada, { dryRun: true });
    expect(developer.statusCode).toBe(403);
    expect(developer.json().error.code).toBe("FORBIDDEN");
    const jobToken = await app.tokens.mintForJob("job-gc-test", 60_000);
    const job = await gc({ authorization: `Bearer ${jobToken}` }, { dryRun: true });
    expect(job.statusCode).toBe(403);
    expect(job.json().error.code).toBe("FORBIDDEN");
    const bad = await gc(admin, { dryRun: true, olderThan: "seven days" });
    expect(bad.statusCode).toBe(400);
    // Audited as the other admin actions are.
    const audit = (await call(admin, "GET", "/api/v1/audit?action=tracking:gc")).json();
    expect(JSON.stringify(audit)).toContain("tracking:gc");
  });

  it("answers through the real CLI: paved gc --dry-run and paved storage", async () => {
    const url = await app.listen();
    const dir = mkdtempSync(join(tmpdir(), "paved-gc-cli-"));
    const dry = await runPaved(["gc", "--dry-run", "--older-than", "7d"], { url, token: app.generatedAdminToken!, dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^would collect \d+ runs? deleted before/);
    const json = await runPaved(["gc", "--dry-run", "--json"], { url, token: app.generatedAdminToken!, dir });
    expect(JSON.parse(json.stdout)).toMatchObject({ dryRun: true });
    const refused = await runPaved(["gc", "--older-than", "soon"], { url, token: app.generatedAdminToken!, dir });
    expect(refused.code).not.toBe(0);
    const storage = await runPaved(["storage", "--team", "team-a", "--json"], { url, token: app.generatedAdminToken!, dir });
    expect(storage.code, storage.stderr).toBe(0);
    expect(JSON.parse(storage.stdout)).toMatchObject({ team: "team-a" });
  });

  it.runIf(dialect === "sqlite")("knows every column of the schema that names a blob", async () => {
    const tables = await app.database.db.introspection.getTables();
    const digestColumns = tables.flatMap((t) => t.columns.filter((c) => c.name === "digest" || c.name.endsWith("_digest")).map((c) => `${t.name}.${c.name}`));
    const known = new Set<string>([...BLOB_REFERENCES.map((r) => `${r.table}.${r.column}`), ...NOT_BLOBS]);
    expect(digestColumns.filter((c) => !known.has(c))).toEqual([]);
  });
});
