import { performance } from "node:perf_hooks";
import { buffer } from "node:stream/consumers";
import { PlatformError, invalidInput, notFound, type Clock, type IdGenerator, type Logger } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import type { AliasChange, ModelVersion, RegisteredModel, RegistryService } from "../registry/index.ts";
import type { InferRequest, ServingService } from "../serving/index.ts";
import { biasCheck } from "./checks/bias.ts";
import { MODEL_CARD_TAG, complianceChecks } from "./checks/compliance.ts";
import { driftChecks } from "./checks/drift.ts";
import { latencyFigures, performanceCheck } from "./checks/performance.ts";
import { qualityCheck, qualityMetric } from "./checks/quality.ts";
import { confineDataPath, readTable, type EvaluationTable } from "./data.ts";
import { parsePolicy, type VersionedPolicy } from "./policy.ts";
import type { CheckResult, EvaluateBody, EvaluationView, GatePolicyView } from "./schema.ts";
import { EvaluationStore, type EvaluationRow } from "./store.ts";

/** The alias the gate guards. */
export const GATED_ALIAS = "production";
const INFER_CHUNK = 1024;
const DATATYPES: Record<string, string> = { float32: "FP32", float: "FP32", float64: "FP64", double: "FP64", int64: "INT64", int32: "INT32" };

export interface EvaluationDeps {
  database: Database;
  registry: RegistryService;
  serving: ServingService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The policy of models without their own. */
  defaultPolicy: VersionedPolicy;
  /** Batch-1 requests the performance check sends (default 200). */
  performanceRequests?: number;
}

/** Evaluates model versions against gate policies, stores the results, and guards the production alias. */
export class EvaluationService {
  private readonly store: EvaluationStore;

  constructor(private readonly deps: EvaluationDeps) {
    this.store = new EvaluationStore(deps.database);
  }

  // ---- policies ----

  async getPolicy(name: string): Promise<GatePolicyView> {
    const model = await this.deps.registry.getModel(name);
    const row = await this.store.getPolicy(model.model_id);
    if (!row) return { model: model.name, version: this.deps.defaultPolicy.version, source: "default", policy: this.deps.defaultPolicy.policy, updatedBy: null, updatedAt: null };
    return { model: model.name, version: row.policy_version, source: "model", policy: JSON.parse(row.policy), updatedBy: row.updated_by, updatedAt: row.updated_at };
  }

  /** Stores a model's own policy (YAML/JSON text or an object); evaluations under older policies stop counting for the gate. */
  async putPolicy(name: string, input: unknown, user: string): Promise<GatePolicyView> {
    const model = await this.deps.registry.getModel(name);
    const parsed = parsePolicy(input);
    await this.store.putPolicy({ model_id: model.model_id, policy: JSON.stringify(parsed.policy), policy_version: parsed.version, updated_by: user, updated_at: this.deps.clock.now() });
    this.deps.logger.info({ model: model.name, policyVersion: parsed.version }, "gate policy stored");
    return this.getPolicy(name);
  }

  // ---- evaluations ----

  /** Runs every check of the model's current policy on the version and stores the evaluation. */
  async evaluate(name: string, versionRef: string, body: EvaluateBody, user: string): Promise<EvaluationView> {
    const startedAt = this.deps.clock.now();
    const version = await this.deps.registry.resolveVersion(name, versionRef);
    const model = await this.deps.registry.getModel(name);
    const { policy, version: policyVersion } = await this.policyOf(model);
    const signature = version.signature ? (JSON.parse(version.signature) as { inputs: { name: string; type: string; shape: unknown[] | null }[] }) : null;
    if (!signature?.inputs.length) {
      throw invalidInput(`version ${version.version} of '${name}' has no ONNX signature; evaluation runs ONNX models (register a version holding a .onnx file)`);
    }
    const sensitive = [...new Set([...body.sensitive, ...policy.checks.flatMap((c) => (c.type === "bias" ? [c.sensitiveColumn] : []))])];
    const dataPath = confineDataPath(body.data, "evaluation data");
    const table = readTable(dataPath, { label: body.label, sensitive, what: "evaluation data" });
    const referencePath = this.referencePath(version, body.reference);
    const reference = referencePath ? readTable(referencePath, { sensitive, what: "reference data" }) : undefined;

    const id = this.deps.ids.prefixed("eval");
    const scores = await this.withLoaded(id, version, async (serve) => {
      const predicted = await serve.predict(table.rows);
      const results: CheckResult[] = [];
      const production = model.aliases.find((a) => a.alias === GATED_ALIAS && a.version !== version.version);
      let productionScores: number[] | undefined;
      for (const check of policy.checks) {
        if (check.type === "quality") {
          if (check.relativeToProduction !== undefined && production && !productionScores) {
            const prod = await this.deps.registry.getVersion(name, production.version);
            productionScores = await this.withLoaded(`${id}-prod`, prod, (p) => p.predict(table.rows));
          }
          const value = qualityMetric(check.metric, predicted, table.labels);
          const prodValue = productionScores && production ? { version: production.version, value: qualityMetric(check.metric, productionScores, table.labels) } : undefined;
          results.push(qualityCheck(check, value, prodValue));
        } else if (check.type === "performance") {
          results.push(performanceCheck(check, await serve.measure(table.rows, this.deps.performanceRequests ?? 200)));
        } else if (check.type === "bias") {
          results.push(biasCheck(check, table.sensitive.get(check.sensitiveColumn), predicted, table.labels));
        } else if (check.type === "drift") {
          results.push(...driftChecks(check, reference && referencePath ? { path: referencePath, columns: columnsOf(reference) } : undefined, table.features, columnsOf(table)));
        } else {
          results.push(...complianceChecks(check, { tags: cardTags(model, version), lineage: version.lineage ? JSON.parse(version.lineage) : null, inputs: declaredInputs(signature.inputs, model, version), sensitive }));
        }
      }
      return results;
    });
    const row: EvaluationRow = {
      id,
      model_id: model.model_id,
      model_name: model.name,
      version: version.version,
      policy_version: policyVersion,
      data_path: dataPath,
      data_digest: table.digest,
      reference_path: referencePath ?? null,
      passed: scores.every((c) => c.passed) ? 1 : 0,
      checks: JSON.stringify(scores),
      user_id: user,
      started_at: startedAt,
      finished_at: this.deps.clock.now(),
    };
    await this.store.insertEvaluation(row);
    this.deps.logger.info({ model: model.name, version: version.version, evaluation: id, passed: row.passed === 1 }, "model version evaluated");
    return evaluationView(row);
  }

  async get(id: string): Promise<EvaluationView> {
    const row = await this.store.getEvaluation(id);
    if (!row) throw notFound(`evaluation '${id}' does not exist; list evaluations with \`paved evaluations ls --model <name>\``);
    return evaluationView(row);
  }

  async list(filter: { model?: string | undefined; version?: string | undefined; limit: number }): Promise<EvaluationView[]> {
    const modelId = filter.model !== undefined ? (await this.deps.registry.getModel(filter.model)).model_id : undefined;
    const rows = await this.store.listEvaluations({ modelId, version: filter.version !== undefined ? Number(filter.version) : undefined, limit: filter.limit });
    return rows.map(evaluationView);
  }

  async overrides(name: string): Promise<{ id: string; version: number; alias: string; policyVersion: string; user: string; reason: string; createdAt: number }[]> {
    const model = await this.deps.registry.getModel(name);
    return (await this.store.listOverrides(model.model_id)).map((o) => ({ id: o.id, version: o.version, alias: o.alias, policyVersion: o.policy_version, user: o.user_id, reason: o.reason, createdAt: o.created_at }));
  }

  // ---- the gate ----

  /** Throws GATE_FAILED unless the version may go to production (a passing evaluation under the model's current policy). */
  async assertDeployable(name: string, version: number): Promise<void> {
    await this.guard({ model: await this.deps.registry.getModel(name), alias: GATED_ALIAS, version });
  }

  /** Alias guard: `production` moves only to a version with a passing evaluation under the current policy, or by an admin override. */
  readonly guard = async (change: AliasChange): Promise<void> => {
    if (change.alias !== GATED_ALIAS) return;
    const { version: policyVersion } = await this.policyOf(change.model);
    if (change.force) {
      if (change.actor?.role !== "admin") throw new PlatformError("FORBIDDEN", "only an admin may force the production gate; ask an admin, or pass the gate with `paved evaluate`");
      const reason = change.reason?.trim();
      if (!reason) throw invalidInput("a forced production move needs a reason; pass reason (it is recorded)");
      await this.store.insertOverride({
        id: this.deps.ids.prefixed("override"),
        model_id: change.model.model_id,
        model_name: change.model.name,
        version: change.version,
        alias: change.alias,
        policy_version: policyVersion,
        user_id: change.actor.name,
        reason,
        created_at: this.deps.clock.now(),
      });
      this.deps.logger.warn({ model: change.model.name, version: change.version, user: change.actor.name, reason }, "production gate overridden");
      return;
    }
    const latest = await this.store.latestEvaluation(change.model.model_id, change.version, policyVersion);
    if (latest?.passed === 1) return;
    const ref = `${change.model.name}@${change.version}`;
    if (!latest) {
      throw new PlatformError(
        "GATE_FAILED",
        `version ${change.version} of '${change.model.name}' has no evaluation under its gate policy ${policyVersion}; run \`paved evaluate ${ref} --data <eval.csv>\`, then move the alias again`,
        { model: change.model.name, version: String(change.version), policyVersion, failedChecks: [] },
      );
    }
    const failed = (JSON.parse(latest.checks) as CheckResult[]).filter((c) => !c.passed);
    throw new PlatformError(
      "GATE_FAILED",
      `version ${change.version} of '${change.model.name}' failed its gate (evaluation ${latest.id}): ${failed.map((c) => `${c.name}: ${c.hint}`).join(" | ")}; fix them and run \`paved evaluate ${ref}\` again`,
      { model: change.model.name, version: String(change.version), policyVersion, evaluation: latest.id, failedChecks: failed.map((c) => ({ name: c.name, hint: c.hint })) },
    );
  };

  // ---- internals ----

  private async policyOf(model: RegisteredModel): Promise<VersionedPolicy> {
    const row = await this.store.getPolicy(model.model_id);
    return row ? { policy: JSON.parse(row.policy), version: row.policy_version } : this.deps.defaultPolicy;
  }

  /** The explicit reference, else the version's lineage dataset when it is a local CSV that exists. */
  private referencePath(version: ModelVersion, explicit: string | undefined): string | undefined {
    if (explicit) return confineDataPath(explicit, "reference data");
    const lineage = version.lineage ? (JSON.parse(version.lineage) as { datasets: { source: string }[] }) : null;
    for (const d of lineage?.datasets ?? []) {
      const path = d.source.startsWith("file://") ? d.source.slice("file://".length) : d.source;
      if (!path.toLowerCase().endsWith(".csv")) continue;
      try {
        return confineDataPath(path, "reference data");
      } catch {
        // Not a usable local file (another machine's path, a URL): look further.
      }
    }
    return undefined;
  }

  /** Loads the version's ONNX model into serving under a private name for the duration of `work`. */
  private async withLoaded<T>(key: string, version: ModelVersion, work: (serve: Predictor) => Promise<T>): Promise<T> {
    const files = await this.deps.registry.files(version.name, version.version);
    const onnx = files.filter((f) => f.path.toLowerCase().endsWith(".onnx")).sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
    if (!onnx || !version.signature) throw invalidInput(`version ${version.version} of '${version.name}' holds no ONNX model; evaluation runs ONNX models`);
    const bytes = new Uint8Array(await buffer((await this.deps.registry.openFile(version.name, version.version, onnx.path)).stream));
    const input = (JSON.parse(version.signature) as { inputs: { name: string; type: string }[] }).inputs[0]!;
    const datatype = DATATYPES[input.type];
    if (!datatype) throw invalidInput(`the model's input '${input.name}' is ${input.type}; evaluation feeds numeric features (float32, float64, int64, int32)`);
    const name = `paved-eval-${key}`;
    const servingVersion = String(version.version);
    await this.deps.serving.load({ name, version: servingVersion, bytes, replicas: 1 });
    const request = (rows: number[][]): InferRequest => ({ inputs: [{ name: input.name, shape: [rows.length, rows[0]!.length], datatype, data: rows.flat() }] });
    const predictor: Predictor = {
      predict: async (rows) => {
        const out: number[] = [];
        for (let i = 0; i < rows.length; i += INFER_CHUNK) {
          const chunk = rows.slice(i, i + INFER_CHUNK);
          const response = await this.deps.serving.infer(name, servingVersion, request(chunk));
          const tensor = response.outputs[0]!;
          const width = tensor.data.length / chunk.length;
          // Two columns are class probabilities: score the positive class.
          const column = width === 2 ? 1 : 0;
          for (let r = 0; r < chunk.length; r++) out.push(Number(tensor.data[r * width + column]));
        }
        return out;
      },
      measure: async (rows, requests) => {
        const latencies: number[] = [];
        const start = performance.now();
        for (let i = 0; i < requests; i++) {
          const t = performance.now();
          await this.deps.serving.infer(name, servingVersion, request([rows[i % rows.length]!]));
          latencies.push(performance.now() - t);
        }
        return { ...latencyFigures(latencies, performance.now() - start), requests };
      },
    };
    try {
      return await work(predictor);
    } finally {
      await this.deps.serving.unload(name, servingVersion).catch((error: unknown) => this.deps.logger.warn({ model: name, reason: (error as Error).message }, "could not unload an evaluated model"));
    }
  }
}

interface Predictor {
  predict(rows: number[][]): Promise<number[]>;
  measure(rows: number[][], requests: number): Promise<ReturnType<typeof latencyFigures> & { requests: number }>;
}

function columnsOf(table: EvaluationTable): Map<string, number[]> {
  return new Map(table.features.map((f, i) => [f, table.rows.map((r) => r[i]!)]));
}

function cardTags(model: RegisteredModel, version: ModelVersion): Map<string, string> {
  return new Map([...model.tags, ...version.tags].filter((t) => t.key.startsWith(MODEL_CARD_TAG)).map((t) => [t.key, t.value]));
}

function declaredInputs(inputs: { name: string }[], model: RegisteredModel, version: ModelVersion): string[] {
  const listed = cardTags(model, version).get(`${MODEL_CARD_TAG}features`) ?? "";
  return [...inputs.map((i) => i.name), ...listed.split(",").map((s) => s.trim()).filter(Boolean)];
}

function evaluationView(row: EvaluationRow): EvaluationView {
  return {
    id: row.id,
    model: row.model_name,
    version: String(row.version),
    policyVersion: row.policy_version,
    dataPath: row.data_path,
    dataDigest: row.data_digest,
    referencePath: row.reference_path,
    passed: row.passed === 1,
    checks: JSON.parse(row.checks),
    user: row.user_id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
