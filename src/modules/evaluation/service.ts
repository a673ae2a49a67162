import { PlatformError, invalidInput, notFound, type Clock, type IdGenerator, type Logger } from "../../core/index.ts";
import type { AliasChange, ModelVersion, RegisteredModel, RegistryService } from "../registry/index.ts";
import { checkTableHeader, confineDataPath } from "./data.ts";
import { parsePolicy, type VersionedPolicy } from "./policy.ts";
import { DATATYPES, GATED_ALIAS, type EvaluationRequest } from "./runner.ts";
import type { CheckResult, EvaluateBody, EvaluationView, GatePolicyView, GateStatusView } from "./schema.ts";
import { JUDGED_PHASES, UNFINISHED_PHASES, type EvaluationPhase, type EvaluationRow, type EvaluationStore } from "./store.ts";

export { GATED_ALIAS } from "./runner.ts";

export interface EvaluationDeps {
  store: EvaluationStore;
  registry: RegistryService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The policy of models without their own. */
  defaultPolicy: VersionedPolicy;
  /** Tells the runner there is work. */
  kick: () => void;
}

/** Accepts evaluations (the runner runs them), reads them back, and guards the production alias. */
export class EvaluationService {
  private readonly store: EvaluationStore;

  constructor(private readonly deps: EvaluationDeps) {
    this.store = deps.store;
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

  /**
   * Validates an evaluation request (version, ONNX input, data paths, CSV headers) and stores it
   * Pending under the model's current policy; the runner runs it. Errors a user can fix now are
   * thrown here, before anything is stored.
   */
  async evaluate(name: string, versionRef: string, body: EvaluateBody, user: string): Promise<EvaluationView> {
    const version = await this.deps.registry.resolveVersion(name, versionRef);
    const model = await this.deps.registry.getModel(name);
    const { policy, version: policyVersion } = await this.policyOf(model);
    const signature = version.signature ? (JSON.parse(version.signature) as { inputs: { name: string; type: string }[] }) : null;
    const input = signature?.inputs[0];
    if (!input) throw invalidInput(`version ${version.version} of '${name}' has no ONNX signature; evaluation runs ONNX models (register a version holding a .onnx file)`);
    if (!DATATYPES[input.type]) throw invalidInput(`the model's input '${input.name}' is ${input.type}; evaluation feeds numeric features (float32, float64, int64, int32)`);
    const sensitive = [...new Set([...body.sensitive, ...policy.checks.flatMap((c) => (c.type === "bias" ? [c.sensitiveColumn] : []))])];
    const dataPath = confineDataPath(body.data, "evaluation data");
    checkTableHeader(dataPath, { label: body.label, sensitive, what: "evaluation data" });
    const referencePath = this.referencePath(version, body.reference);
    if (referencePath) checkTableHeader(referencePath, { sensitive, what: "reference data" });

    const now = this.deps.clock.now();
    const request: EvaluationRequest = { label: body.label, sensitive, policy };
    const row: EvaluationRow = {
      id: this.deps.ids.prefixed("eval"),
      model_id: model.model_id,
      model_name: model.name,
      version: version.version,
      policy_version: policyVersion,
      data_path: dataPath,
      data_digest: "",
      reference_path: referencePath ?? null,
      passed: 0,
      checks: "[]",
      user_id: user,
      started_at: now,
      finished_at: 0,
      phase: "Pending",
      request: JSON.stringify(request),
      message: null,
      created_at: now,
    };
    await this.store.insertEvaluation(row);
    this.deps.logger.info({ model: model.name, version: version.version, evaluation: row.id }, "evaluation accepted");
    this.deps.kick();
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

  /**
   * Per version with evaluations under the model's current policy: what the gate decides now
   * (passed: a passing finished evaluation exists; failed: only failing ones) and any evaluation
   * still Pending or Running.
   */
  async gateStatus(name: string): Promise<GateStatusView> {
    const model = await this.deps.registry.getModel(name);
    const { version: policyVersion } = await this.policyOf(model);
    const rows = await this.store.listEvaluations({ modelId: model.model_id, policyVersion, limit: 10_000 });
    const byVersion = new Map<number, EvaluationRow[]>();
    for (const row of rows) byVersion.set(row.version, [...(byVersion.get(row.version) ?? []), row]);
    const versions = [...byVersion.entries()]
      .sort(([a], [b]) => b - a)
      .map(([version, list]) => {
        // Newest first already; the gate prefers a passing finished evaluation (see `guard`).
        const judged = list.filter((r) => JUDGED_PHASES.includes(r.phase as EvaluationPhase));
        const decisive = judged.find((r) => r.passed === 1) ?? judged[0];
        const unfinished = list.find((r) => UNFINISHED_PHASES.includes(r.phase as EvaluationPhase));
        const latest = list[0]!;
        return {
          version: String(version),
          gate: decisive ? (decisive.passed === 1 ? ("passed" as const) : ("failed" as const)) : ("none" as const),
          evaluation: decisive?.id ?? null,
          inProgress: unfinished ? { id: unfinished.id, phase: unfinished.phase as EvaluationPhase } : null,
          latest: { id: latest.id, phase: latest.phase as EvaluationPhase },
        };
      });
    return { model: model.name, policyVersion, versions };
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
      const unfinished = await this.store.unfinishedEvaluation(change.model.model_id, change.version, policyVersion);
      if (unfinished) {
        throw new PlatformError(
          "GATE_FAILED",
          `version ${change.version} of '${change.model.name}' has no finished evaluation under its gate policy ${policyVersion}; evaluation ${unfinished.id} is ${unfinished.phase}: wait for it (\`paved evaluations show ${unfinished.id}\`), then move the alias again`,
          { model: change.model.name, version: String(change.version), policyVersion, evaluation: unfinished.id, phase: unfinished.phase, failedChecks: [] },
        );
      }
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
}

function evaluationView(row: EvaluationRow): EvaluationView {
  const finished = !UNFINISHED_PHASES.includes(row.phase as EvaluationPhase);
  return {
    id: row.id,
    model: row.model_name,
    version: String(row.version),
    phase: row.phase as EvaluationPhase,
    message: row.message,
    policyVersion: row.policy_version,
    dataPath: row.data_path,
    dataDigest: row.data_digest || null,
    referencePath: row.reference_path,
    passed: row.phase === "Passed",
    checks: JSON.parse(row.checks),
    user: row.user_id,
    createdAt: row.created_at,
    startedAt: row.phase === "Pending" ? null : row.started_at,
    finishedAt: finished ? row.finished_at : null,
  };
}
