import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { buffer } from "node:stream/consumers";
import { pipeline } from "node:stream/promises";
import type { ArtifactStore } from "../../artifacts/index.ts";
import { ReconcileLoop, isPlatformError, type Clock, type Logger } from "../../core/index.ts";
import { signatureFromRegistry } from "./columns.ts";
import { Cancelled, type BatchInferenceEngine, type InputFile } from "./engine.ts";
import type { PredictionSpec } from "./schema.ts";
import { featureNames, onnxFile, type PredictionDatasets, type PredictionRegistry } from "./service.ts";
import type { PredictionRow, PredictionStore } from "./store.ts";

export interface PredictionControllerDeps {
  store: PredictionStore;
  registry: PredictionRegistry;
  datasets: PredictionDatasets;
  artifacts: ArtifactStore;
  engine: BatchInferenceEngine;
  clock: Clock;
  logger: Logger;
  /** Where input copies (stores without local files) and outputs are written while a prediction runs. */
  scratchDir: string;
  /** Predictions run at once. */
  concurrency: number;
  intervalMs?: number;
}

/** Seconds between progress writes of a running prediction. */
const PROGRESS_EVERY_MS = 1000;

/**
 * Runs queued predictions, oldest first, `concurrency` at a time: reads the model version's ONNX
 * file and the input dataset version's files, runs the engine, stores the output as a new version
 * of the output dataset with lineage to both, and records the figures. A prediction found RUNNING
 * that this process does not run (the server stopped, or was killed, while it ran) is queued again
 * and starts from the beginning: nothing is written until a run ends, so a partial one leaves nothing.
 */
export class PredictionController {
  private readonly loop: ReconcileLoop;
  private readonly active = new Map<string, { abort: AbortController; done: Promise<void> }>();

  constructor(private readonly deps: PredictionControllerDeps) {
    this.loop = new ReconcileLoop(() => this.pass(), { intervalMs: deps.intervalMs ?? 1000, onError: (error) => deps.logger.error({ err: error }, "prediction pass failed") });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops taking predictions; running ones stop and stay RUNNING, to start again at the next start. */
  async stop(): Promise<void> {
    await this.loop.stop();
    for (const run of this.active.values()) run.abort.abort();
    await Promise.all([...this.active.values()].map((r) => r.done));
  }

  kick(): void {
    this.loop.kick();
  }

  private async pass(): Promise<void> {
    const { store, clock } = this.deps;
    const running = await store.list({ limit: 1000, phases: ["RUNNING"] });
    for (const row of running) {
      if (this.active.has(row.prediction_id)) continue;
      await store.transition(row.prediction_id, ["RUNNING"], "QUEUED", { message: `the server stopped while attempt ${row.attempts} ran (after ${row.rows_done} rows); it starts again from the beginning`, rows_done: 0 }, clock.now());
    }
    // A prediction cancelled while it runs stops at its next chunk.
    const ids = new Set(running.map((r) => r.prediction_id));
    for (const [id, run] of this.active) if (!ids.has(id)) run.abort.abort();
    if (this.active.size >= this.deps.concurrency) return;
    for (const row of await store.list({ limit: this.deps.concurrency - this.active.size, phases: ["QUEUED"] })) {
      if (!this.loop.running) return;
      const now = clock.now();
      if (!(await store.transition(row.prediction_id, ["QUEUED"], "RUNNING", { attempts: Number(row.attempts) + 1, started_at: now, rows_done: 0 }, now))) continue;
      const abort = new AbortController();
      const done = this.run({ ...row, attempts: Number(row.attempts) + 1 }, abort.signal).finally(() => {
        this.active.delete(row.prediction_id);
        this.loop.kick();
      });
      this.active.set(row.prediction_id, { abort, done });
    }
  }

  private async run(row: PredictionRow, signal: AbortSignal): Promise<void> {
    const { store, registry, datasets, artifacts, engine, clock, logger } = this.deps;
    const id = row.prediction_id;
    await mkdir(this.deps.scratchDir, { recursive: true });
    const scratch = await mkdtemp(join(this.deps.scratchDir, `${id}-`));
    try {
      const spec = JSON.parse(row.spec) as PredictionSpec;
      const version = await registry.getVersion(row.model_name, row.model_version);
      const onnx = await onnxFile(registry, version);
      const model = new Uint8Array(await buffer((await registry.openFile(row.model_name, row.model_version, onnx.path)).stream));
      const input = await datasets.resolve(row.team_id, row.input);
      const files: InputFile[] = [];
      for (const f of input.file ? [input.file] : input.files) {
        if (f.format !== "csv" && f.format !== "parquet") continue;
        let path = await artifacts.localPath?.(f.digest);
        if (!path) {
          path = join(scratch, `input-${files.length}`);
          await pipeline(await artifacts.get(f.digest), createWriteStream(path));
        }
        files.push({ path, format: f.format, ...(f.path.endsWith(".gz") ? { gzip: true } : {}) });
      }
      const output = join(scratch, "predictions.parquet");
      let written = 0;
      const result = await engine.run({
        model,
        input: files,
        output,
        features: await featureNames(registry, spec, version),
        signature: signatureFromRegistry(JSON.parse(version.signature!) as Parameters<typeof signatureFromRegistry>[0]),
        keep: spec.keep,
        what: `dataset ${row.input}`,
        signal,
        onProgress: (rows, total) => {
          const now = clock.now();
          if (now - written < PROGRESS_EVERY_MS) return;
          written = now;
          void store.progress(id, rows, total ?? null, now).catch((error: unknown) => logger.warn({ err: error, predictionId: id }, "could not record a prediction's progress"));
        },
      });
      if (signal.aborted) return;
      const blob = await datasets.putFile(row.team_id, output, { createdBy: row.created_by, what: `the predictions of ${id}` });
      const created = await datasets.createVersion({
        team: row.team_id,
        name: row.output_dataset,
        files: [{ path: "predictions.parquet", ...blob }],
        description: `predictions of ${row.model_name}@${row.model_version} over ${row.input}`,
        lineage: { kind: "prediction", id, model: row.model_name, modelVersion: Number(row.model_version), input: input.ref, inputDigest: input.digest, ...(input.file ? { inputFile: input.file.path } : {}) },
        createdBy: row.created_by,
      });
      const now = clock.now();
      await store.transition(
        id,
        ["RUNNING"],
        "SUCCEEDED",
        { rows_done: result.rows, rows_total: result.rows, output_version: created.version, seconds: result.seconds, rows_per_second: result.rowsPerSecond, finished_at: now, message: row.attempts > 1 ? `succeeded at attempt ${row.attempts} (started again from the beginning after a restart)` : null },
        now,
      );
      logger.info({ predictionId: id, rows: result.rows, seconds: result.seconds, output: `${row.output_dataset}@${created.version}` }, "batch prediction succeeded");
    } catch (error) {
      // Cancelled (already recorded), or stopping: it stays RUNNING and starts again at the next start.
      if (error instanceof Cancelled || signal.aborted) return;
      const message = isPlatformError(error) ? `${error.code}: ${error.message}` : `INTERNAL: ${(error as Error).message.split("\n")[0]!.slice(0, 300)}`;
      logger.warn({ predictionId: id, reason: message }, "batch prediction failed");
      const now = clock.now();
      await store.transition(id, ["RUNNING"], "FAILED", { message, finished_at: now }, now).catch((e: unknown) => logger.error({ err: e, predictionId: id }, "could not record a failed prediction"));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
