import { PlatformError, conflict, invalidInput, notFound, type Clock, type IdGenerator, type Logger } from "../../core/index.ts";
import type { EvaluationService } from "../evaluation/index.ts";
import type { RegistryService } from "../registry/index.ts";
import { stickyVariant } from "./router.ts";
import { AbTestBody, BUILTIN_AB_METRICS, type AbTestSpec, type CreateDeploymentBody, type DeploymentSpec, type DeploymentStatus, type DeploymentView, type OutcomesBody } from "./schema.ts";
import { ACTIVE_PHASES, DeploymentStore, type DeploymentRow } from "./store.ts";

/** The environment whose alias the evaluation gate guards. */
export const GATED_ENVIRONMENT = "production";

export interface DeploymentServiceDeps {
  store: DeploymentStore;
  registry: RegistryService;
  evaluation: EvaluationService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Wakes the controller after a write. */
  kick: () => void;
}

/** The deployment API: validates and writes specs and user intents; the controller does the rest. */
export class DeploymentService {
  constructor(private readonly deps: DeploymentServiceDeps) {}

  async create(body: CreateDeploymentBody, user: string): Promise<DeploymentView> {
    const version = await this.deps.registry.resolveVersion(body.model, body.version ?? body.alias!);
    if (!version.signature) throw invalidInput(`version ${version.version} of '${body.model}' holds no ONNX model; deployments serve ONNX models`);
    if (body.environment === GATED_ENVIRONMENT) await this.deps.evaluation.assertDeployable(body.model, version.version);
    const active = (await this.deps.store.list({ model: body.model })).find((d) => ACTIVE_PHASES.includes(d.phase));
    if (active) {
      throw conflict(`model '${body.model}' already has a deployment in progress (${active.id}, ${active.phase}); wait for it, or \`paved deployments rollback ${active.id}\``);
    }
    const model = await this.deps.registry.getModel(body.model);
    const current = model.aliases.find((a) => a.alias === body.environment)?.version;
    const now = this.deps.clock.now();
    const stable = current !== undefined && current !== version.version ? String(current) : null;
    if ((body.strategy === "ab" || body.strategy === "shadow") && stable === null) {
      throw conflict(
        `strategy '${body.strategy}' compares version ${version.version} with the one serving '${body.environment}', and ${current === undefined ? `no version holds alias '${body.environment}'` : `version ${current} already holds it`}; deploy the first version with --strategy canary or replace`,
      );
    }
    const spec: DeploymentSpec = {
      model: body.model,
      version: String(version.version),
      environment: body.environment,
      strategy: body.strategy,
      steps: body.steps,
      stepIntervalSeconds: body.stepIntervalSeconds,
      analysis: body.analysis,
      ...(body.strategy === "ab" ? { ab: abSpec(body.ab ?? AbTestBody.parse({})) } : {}),
      scale: { replicas: body.replicas, maxReplicas: body.maxReplicas ?? body.replicas, targetP95Ms: body.targetP95Ms ?? null },
    };
    const status: DeploymentStatus = {
      phase: "Progressing",
      stableVersion: stable,
      canaryVersion: spec.version,
      canaryWeight: 0,
      currentStep: -1,
      stepStartedAt: null,
      testsDone: false,
      abTest: null,
      shadow: null,
      history: [{ time: now, reason: `deployment of version ${spec.version} to ${spec.environment} created (${spec.strategy}${stable ? `, stable version ${stable}` : ", no stable version"})` }],
    };
    const row: DeploymentRow = {
      id: this.deps.ids.prefixed("deploy"),
      model_name: body.model,
      environment: body.environment,
      spec: JSON.stringify(spec),
      status: JSON.stringify(status),
      phase: status.phase,
      paused: 0,
      requested: null,
      created_by: user,
      created_at: now,
      updated_at: now,
    };
    await this.deps.store.insert(row);
    this.deps.logger.info({ deployment: row.id, model: body.model, version: spec.version, environment: spec.environment }, "deployment created");
    this.deps.kick();
    return deploymentView(row);
  }

  async get(id: string): Promise<DeploymentView> {
    return deploymentView(await this.row(id));
  }

  async list(filter: { model?: string | undefined }): Promise<DeploymentView[]> {
    return (await this.deps.store.list(filter)).map(deploymentView);
  }

  async pause(id: string): Promise<DeploymentView> {
    await this.active(id, "pause");
    await this.deps.store.setPaused(id, true, this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  async resume(id: string): Promise<DeploymentView> {
    await this.active(id, "resume");
    await this.deps.store.setPaused(id, false, this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  /** Asks the controller to promote (skip the remaining steps) or roll back now. */
  async request(id: string, action: "promote" | "rollback"): Promise<DeploymentView> {
    await this.active(id, action);
    await this.deps.store.request(id, action, this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  /**
   * Records outcomes of an A/B test on a reported metric, each attributed to the variant its
   * routing key was sent to (the same hash the router uses, so no request log is needed).
   */
  async addOutcomes(id: string, body: OutcomesBody): Promise<{ accepted: number; duplicates: number; a: number; b: number }> {
    const row = await this.active(id, "take outcomes");
    const spec = JSON.parse(row.spec) as DeploymentSpec;
    const status = JSON.parse(row.status) as DeploymentStatus;
    if (spec.strategy !== "ab" || !spec.ab) throw conflict(`deployment '${id}' uses strategy '${spec.strategy}'; outcomes are reported for A/B deployments (--strategy ab)`);
    if (spec.ab.metric in BUILTIN_AB_METRICS) throw conflict(`deployment '${id}' compares '${spec.ab.metric}', which Paved measures itself; report outcomes only for a metric you name in ab.metric`);
    if (spec.ab.kind === "binary") {
      const bad = body.outcomes.findIndex((o) => o.value !== 0 && o.value !== 1);
      if (bad >= 0) throw invalidInput(`outcome ${bad + 1} has value ${body.outcomes[bad]!.value}, but '${spec.ab.metric}' is binary: report 1 (happened) or 0 (did not)`);
    }
    const now = this.deps.clock.now();
    const rows = body.outcomes.map((o) => ({
      deployment_id: id,
      version: stickyVariant(id, o.key, spec.ab!.split) === "B" ? spec.version : status.stableVersion!,
      route_key: o.key,
      value: o.value,
      outcome_id: o.id ?? null,
      created_at: now,
    }));
    const ids = body.outcomes.flatMap((o) => (o.id === undefined ? [] : [o.id]));
    if (new Set(ids).size !== ids.length) throw invalidInput("two outcomes in the request share an id; give each outcome its own id (or none)");
    const added = await this.deps.store.addOutcomes(rows);
    const b = rows.filter((r) => r.version === spec.version).length;
    return { accepted: rows.length, duplicates: rows.length - added, a: rows.length - b, b };
  }

  private async row(id: string): Promise<DeploymentRow> {
    const row = await this.deps.store.get(id);
    if (!row) throw notFound(`deployment '${id}' does not exist; list deployments with \`paved deployments ls\``);
    return row;
  }

  private async active(id: string, action: string): Promise<DeploymentRow> {
    const row = await this.row(id);
    if (!ACTIVE_PHASES.includes(row.phase)) throw new PlatformError("CONFLICT", `deployment '${id}' is ${row.phase}; only a Progressing or Paused deployment can ${action}`);
    return row;
  }
}

/** The A/B settings with every default resolved. */
function abSpec(body: AbTestBody): AbTestSpec {
  const builtin = BUILTIN_AB_METRICS[body.metric as keyof typeof BUILTIN_AB_METRICS];
  return {
    split: body.split,
    metric: body.metric,
    kind: builtin ?? body.kind ?? "continuous",
    higherIsBetter: body.higherIsBetter ?? builtin === undefined,
    alpha: body.alpha,
    minSamples: body.minSamples,
    autoConclude: body.autoConclude,
  };
}

export function deploymentView(row: DeploymentRow): DeploymentView {
  return {
    id: row.id,
    spec: JSON.parse(row.spec),
    status: JSON.parse(row.status),
    paused: row.paused === 1,
    requested: row.requested,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
