import { performance } from "node:perf_hooks";
import { buffer } from "node:stream/consumers";
import { ReconcileLoop, invalidInput, type Clock, type Logger } from "../../core/index.ts";
import type { ModelVersion, RegisteredModel, RegistryService } from "../registry/index.ts";
import type { InferRequest, ServingService } from "../serving/index.ts";
import { biasCheck } from "./checks/bias.ts";
import { cardFeatures, cardTags, complianceChecks } from "./checks/compliance.ts";
import { driftChecks } from "./checks/drift.ts";
import { latencyFigures, performanceCheck } from "./checks/performance.ts";
import { checkClassLabels, predictionsFromOutput, type Predictions } from "./checks/predictions.ts";
import { predictionMetric, qualityCheck, unavailableReason } from "./checks/quality.ts";
import { readTableOffThread, type EvaluationTable, type TableOptions } from "./data.ts";
import type { CheckResult, EvaluationView, GatePolicy } from "./schema.ts";
import { ACCEPTED_DATA_URIS, type DataResolver, type ResolvedData } from "./sources.ts";
import type { EvaluationOutcome, EvaluationRow, EvaluationStore } from "./store.ts";

/** The alias the gate guards. */
export const GATED_ALIAS = "production";
const INFER_CHUNK = 1024;
/** ONNX input types evaluation can feed, and their Open Inference Protocol datatypes. */
export const DATATYPES: Record<string, string> = { float32: "FP32", float: "FP32", float64: "FP64", double: "FP64", int64: "INT64", int32: "INT32" };

/** How the data's columns are fed to the model (see EvaluationView.features). */
export type FeatureMatch = NonNullable<EvaluationView["features"]>;

/** What an evaluation runs, stored with it (`evaluations.request`) so a restart runs the same thing. */
export interface EvaluationRequest {
  label: string;
  sensitive: string[];
  /** The policy in force when the evaluation was asked for (its version is the row's policy_version). */
  policy: GatePolicy;
  /** The data as resolved on acceptance: the blob read is the one that was checked. Absent in evaluations from before data URIs. */
  data?: ResolvedData;
  reference?: ResolvedData | null;
  /** Where the reference came from ("explicit", a lineage dataset), and why there is none. */
  referenceOrigin?: string | null;
  referenceNote?: string | null;
  features?: FeatureMatch;
}

export interface EvaluationRunnerDeps {
  store: EvaluationStore;
  /** Reads the stored blobs evaluation data names. */
  data: DataResolver;
  registry: RegistryService;
  serving: ServingService;
  clock: Clock;
  logger: Logger;
  /** Batch-1 requests the performance check sends (default 200). */
  performanceRequests?: number;
  /** How often the runner looks for evaluations to run (default 1000 ms); new ones kick it sooner. */
  intervalMs?: number;
}

/** Thrown between checks when the runner stops: the evaluation stays Running and runs again after the restart. */
class Interrupted extends Error {}

/**
 * Runs evaluations one at a time, oldest first: Pending → Running → Passed or Failed, or Error
 * with the reason when it could not run at all (unreadable CSV, labels that are not class
 * indices, a model serving cannot load). It reads its work from the database alone, so
 * evaluations left Pending or Running by a crash run again after a restart; an evaluation is a
 * pure computation over its stored request, so running it twice is harmless.
 */
export class EvaluationRunner {
  private readonly loop: ReconcileLoop;

  constructor(private readonly deps: EvaluationRunnerDeps) {
    this.loop = new ReconcileLoop(() => this.runAll(), {
      intervalMs: deps.intervalMs ?? 1000,
      onError: (error) => deps.logger.warn({ reason: error.message }, "evaluation pass failed; retrying"),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Looks for work now (or right after the pass in progress). */
  kick(): void {
    this.loop.kick();
  }

  private async runAll(): Promise<void> {
    while (this.loop.running) {
      const row = await this.deps.store.nextToRun();
      if (!row) return;
      await this.run(row);
    }
  }

  /** Runs one evaluation to its end and saves the outcome. */
  private async run(row: EvaluationRow): Promise<void> {
    const startedAt = this.deps.clock.now();
    if (row.phase === "Running") this.deps.logger.info({ evaluation: row.id }, "evaluation interrupted by a restart; running it again");
    await this.deps.store.markRunning(row.id, startedAt);
    let outcome: EvaluationOutcome;
    try {
      if (!row.request) throw invalidInput("this evaluation was stored without its request and cannot run; run `paved evaluate` again");
      const { checks, digest } = await this.compute(row, JSON.parse(row.request) as EvaluationRequest);
      // No result is no verdict: a policy whose checks yield nothing must never pass a version.
      if (!checks.length) throw invalidInput("the gate policy produced no check results, so this evaluation cannot pass; store a policy whose checks bound something (`paved evaluations policy set`) and evaluate again");
      const passed = checks.every((c) => c.passed);
      outcome = { phase: passed ? "Passed" : "Failed", passed: passed ? 1 : 0, checks: JSON.stringify(checks), data_digest: digest, message: null, finished_at: this.deps.clock.now() };
    } catch (error) {
      if (error instanceof Interrupted) return;
      const message = (error as Error).message;
      outcome = { phase: "Error", passed: 0, checks: "[]", data_digest: row.data_digest, message, finished_at: this.deps.clock.now() };
    }
    await this.deps.store.finish(row.id, outcome);
    this.deps.logger.info({ model: row.model_name, version: row.version, evaluation: row.id, phase: outcome.phase, ...(outcome.message ? { reason: outcome.message } : {}) }, "model version evaluated");
  }

  /** Runs every check of the evaluation's policy on its version. */
  private async compute(row: EvaluationRow, request: EvaluationRequest): Promise<{ checks: CheckResult[]; digest: string }> {
    const { registry } = this.deps;
    const model = await registry.getModel(row.model_name);
    if (model.model_id !== row.model_id || model.team_id !== row.team_id) {
      // Deleted (and the name taken again, perhaps by another team) since the evaluation was asked for.
      throw invalidInput(`registered model '${row.model_name}' is no longer the model this evaluation was asked for (it was deleted or renamed); evaluate the model again`);
    }
    const version = await registry.getVersion(row.model_name, row.version);
    const signature = version.signature ? (JSON.parse(version.signature) as { inputs: { name: string; type: string }[] }) : null;
    if (!signature?.inputs.length) throw invalidInput(`version ${version.version} of '${model.name}' has no ONNX signature; evaluation runs ONNX models`);
    if (!request.data) {
      throw invalidInput(`this evaluation names '${row.data_path}', a path on the server, which evaluation no longer reads; evaluate again with ${ACCEPTED_DATA_URIS}`);
    }
    const byName: TableOptions["features"] = request.features?.matchedBy === "name" ? { names: request.features.names, from: request.features.from } : undefined;
    const { data } = this.deps;
    const table = await readTableOffThread(await data.bytes(request.data, "evaluation data"), { label: request.label, sensitive: request.sensitive, what: `evaluation data '${request.data.uri}'`, features: byName });
    const reference = request.reference
      ? await readTableOffThread(await data.bytes(request.reference, "reference data"), { sensitive: request.sensitive, what: `reference data '${request.reference.uri}'`, features: byName, partial: true })
      : undefined;
    const checkpoint = () => {
      if (!this.loop.running) throw new Interrupted("stopped");
    };

    const checks = await this.withLoaded(row.id, version, async (serve) => {
      const predicted = await serve.predict(table.rows);
      if (predicted.kind === "classes") checkClassLabels(table.labels, predicted.probabilities[0]!.length, request.label);
      const results: CheckResult[] = [];
      const production = model.aliases.find((a) => a.alias === GATED_ALIAS && a.version !== version.version);
      let productionPredictions: Predictions | undefined;
      for (const check of request.policy.checks) {
        checkpoint();
        if (check.type === "quality") {
          if (check.relativeToProduction !== undefined && production && !productionPredictions) {
            const prod = await registry.getVersion(model.name, production.version);
            productionPredictions = await this.withLoaded(`${row.id}-prod`, prod, (p) => p.predict(table.rows));
          }
          const value = predictionMetric(check.metric, predicted, table.labels);
          const prodValue = productionPredictions && production ? { version: production.version, value: predictionMetric(check.metric, productionPredictions, table.labels) } : undefined;
          results.push(qualityCheck(check, value, prodValue, unavailableReason(check.metric, predicted)));
        } else if (check.type === "performance") {
          results.push(performanceCheck(check, await serve.measure(table.rows, this.deps.performanceRequests ?? 200)));
        } else if (check.type === "bias") {
          results.push(biasCheck(check, table.sensitive.get(check.sensitiveColumn), predicted, table.labels));
        } else if (check.type === "drift") {
          results.push(...driftChecks(check, reference && request.reference ? { path: request.reference.uri, columns: columnsOf(reference) } : undefined, table.features, columnsOf(table), request.referenceNote ?? undefined));
        } else {
          results.push(...complianceChecks(check, { tags: cardTags(model, version), lineage: version.lineage ? JSON.parse(version.lineage) : null, inputs: declaredInputs(signature.inputs, model, version), sensitive: request.sensitive }));
        }
      }
      return results;
    });
    return { checks, digest: table.digest };
  }

  /** Loads the version's ONNX model privately into serving for the duration of `work`. */
  private async withLoaded<T>(key: string, version: ModelVersion, work: (serve: Predictor) => Promise<T>): Promise<T> {
    const { registry, serving } = this.deps;
    const files = await registry.files(version.name, version.version);
    const onnx = files.filter((f) => f.path.toLowerCase().endsWith(".onnx")).sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
    if (!onnx || !version.signature) throw invalidInput(`version ${version.version} of '${version.name}' holds no ONNX model; evaluation runs ONNX models`);
    const bytes = new Uint8Array(await buffer((await registry.openFile(version.name, version.version, onnx.path)).stream));
    const input = (JSON.parse(version.signature) as { inputs: { name: string; type: string }[] }).inputs[0]!;
    const datatype = DATATYPES[input.type];
    if (!datatype) throw invalidInput(`the model's input '${input.name}' is ${input.type}; evaluation feeds numeric features (float32, float64, int64, int32)`);
    const name = `paved-eval-${key}`;
    const servingVersion = String(version.version);
    // Private: no endpoint serves it and nothing logs its predictions.
    const model = await serving.loadPrivate({ name, version: servingVersion, bytes, replicas: 1 });
    const request = (rows: number[][]): InferRequest => ({ inputs: [{ name: input.name, shape: [rows.length, rows[0]!.length], datatype, data: rows.flat() }] });
    const predictor: Predictor = {
      predict: async (rows) => {
        const values: number[] = [];
        let width: number | undefined;
        for (let i = 0; i < rows.length; i += INFER_CHUNK) {
          const chunk = rows.slice(i, i + INFER_CHUNK);
          const tensor = (await model.infer(request(chunk))).outputs[0]!;
          width ??= tensor.data.length / chunk.length;
          if (!Number.isInteger(width) || width < 1 || tensor.data.length !== width * chunk.length) {
            throw invalidInput(`the model's output '${tensor.name}' has ${tensor.data.length} values for ${chunk.length} rows; evaluation reads [rows, 1] scores, [rows, 2] or [rows, k] class probabilities`);
          }
          for (const v of tensor.data) values.push(Number(v));
        }
        return predictionsFromOutput(values, rows.length, width ?? 1);
      },
      measure: async (rows, requests) => {
        const latencies: number[] = [];
        const start = performance.now();
        for (let i = 0; i < requests; i++) {
          const t = performance.now();
          await model.infer(request([rows[i % rows.length]!]));
          latencies.push(performance.now() - t);
        }
        return { ...latencyFigures(latencies, performance.now() - start), requests };
      },
    };
    try {
      return await work(predictor);
    } finally {
      await model.unload().catch((error: unknown) => this.deps.logger.warn({ model: name, reason: (error as Error).message }, "could not unload an evaluated model"));
    }
  }
}

interface Predictor {
  predict(rows: number[][]): Promise<Predictions>;
  measure(rows: number[][], requests: number): Promise<ReturnType<typeof latencyFigures> & { requests: number }>;
}

function columnsOf(table: EvaluationTable): Map<string, number[]> {
  return new Map(table.features.map((f, i) => [f, table.rows.map((r) => r[i]!)]));
}

function declaredInputs(inputs: { name: string }[], model: RegisteredModel, version: ModelVersion): string[] {
  return [...inputs.map((i) => i.name), ...cardFeatures(cardTags(model, version))];
}
