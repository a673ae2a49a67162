import { PlatformError, conflict, decodePositionToken, encodePositionToken, invalidInput, notFound, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import type { EvaluationService } from "../evaluation/index.ts";
import { authorize, visibleTeams } from "../identity/index.ts";
import type { RegistryService } from "../registry/index.ts";
import { DEFAULT_ENVIRONMENT } from "../serving/index.ts";
import { stickyVariant } from "./router.ts";
import {
  AbTestBody,
  BUILTIN_AB_METRICS,
  type AbTestSpec,
  type CreateDeploymentBody,
  type DeploymentMonitor,
  type DeploymentOverrideView,
  type DeploymentSpec,
  type DeploymentStatus,
  type DeploymentView,
  type OutcomesBody,
  type PromoteBody,
} from "./schema.ts";
import { ACTIVE_PHASES, DeploymentStore, type DeploymentRow, type OverrideRow } from "./store.ts";

/** The environment whose alias the evaluation gate guards; it is also the one served at the unprefixed `/v2/models/{name}`. */
export const GATED_ENVIRONMENT = DEFAULT_ENVIRONMENT;

export interface DeploymentServiceDeps {
  store: DeploymentStore;
  registry: RegistryService;
  evaluation: EvaluationService;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Wakes the controller after a write. */
  kick: () => void;
  /** The server's most replicas per version (serving.maxReplicasPerVersion). */
  maxReplicasPerVersion: number;
  /** Draws a new deployment's replicas from its team's serving-replica quota (guardrails' ledger): QUOTA_EXCEEDED past it. */
  replicaQuota?: (team: string, replicas: number, what: string) => Promise<void>;
  /** Why serving holds a model's versions in an environment below what their load asks (the team's quota), if it does. */
  scaleLimit?: (model: string, environment: string) => string | undefined;
  /** Admission (policies, budget) of a new deployment or a forced promotion; app.ts connects guardrails' here. */
  admission?: DeploymentAdmissionHook;
  /**
   * Watches a new deployment's version with a monitor (app.ts connects monitoring's `ensure`). Called
   * after the deployment is stored; a failure here never undoes the deployment, it becomes the note.
   */
  monitor?: (target: { model: string; version: number; environment: string }, principal: Principal) => Promise<DeploymentMonitor>;
}

/**
 * Decides whether a deployment may be created (or a promotion forced past its analysis) before
 * anything is stored: throws a PlatformError (FORBIDDEN naming a broken policy rule, QUOTA_EXCEEDED
 * naming a spent budget).
 */
export type DeploymentAdmissionHook = (deployment: { action: "create" | "force-promote"; model: string; environment: string; team: string }, principal: Principal) => Promise<void>;

/** The deployment API: validates and writes specs and user intents; the controller does the rest. */
export class DeploymentService {
  constructor(private readonly deps: DeploymentServiceDeps) {}

  /** A new deployment belongs to its model's team (never one the request names): the model decides who may deploy it. */
  newDeploymentResource(body: Pick<CreateDeploymentBody, "model">): Promise<ResourceRef> {
    return this.deps.registry.modelResource(body.model);
  }

  /** A deployment as the policy sees it; one of another team answers as a missing one. */
  async resource(id: string): Promise<ResourceRef> {
    const row = await this.row(id);
    return { kind: "deployment", id, team: row.team_id, notFound: () => missingDeployment(id) };
  }

  async create(body: CreateDeploymentBody, principal: Principal): Promise<DeploymentView> {
    const version = await this.deps.registry.resolveVersion(body.model, body.version ?? body.alias!);
    if (!version.signature) throw invalidInput(`version ${version.version} of '${body.model}' holds no ONNX model; deployments serve ONNX models`);
    const limit = this.deps.maxReplicasPerVersion;
    const most = Math.max(body.replicas, body.maxReplicas ?? body.replicas);
    if (most > limit) {
      throw invalidInput(`${most} replicas per version is above this server's limit of ${limit} (serving.maxReplicasPerVersion); ask for at most ${limit} with --replicas/--max-replicas, or ask an admin to raise serving.maxReplicasPerVersion`, {
        replicas: most,
        limit,
        setting: "serving.maxReplicasPerVersion",
      });
    }
    const model = await this.deps.registry.getModel(body.model);
    await this.deps.admission?.({ action: "create", model: body.model, environment: body.environment, team: model.team_id }, principal);
    if (body.environment === GATED_ENVIRONMENT) await this.deps.evaluation.assertDeployable(body.model, version.version);
    // One rollout at a time per (model, environment): each environment has its own endpoint, router split and loaded versions.
    const active = await this.deps.store.active(body.model, body.environment);
    if (active) {
      throw conflict(`model '${body.model}' already has a deployment in progress in ${body.environment} (${active.id}, ${active.phase}); wait for it, or \`paved deployments rollback ${active.id}\``);
    }
    // The new version's replicas run beside what the team serves while the rollout lasts.
    await this.deps.replicaQuota?.(model.team_id, body.replicas, `deploying ${body.model} version ${version.version} to ${body.environment}`);
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
      created_by: principal.name,
      created_at: now,
      updated_at: now,
      team_id: model.team_id,
    };
    await this.deps.store.insert(row);
    this.deps.logger.info({ deployment: row.id, model: body.model, version: spec.version, environment: spec.environment }, "deployment created");
    this.deps.kick();
    const view = deploymentView(row, []);
    if (!body.monitor || !this.deps.monitor) return view;
    return { ...view, monitor: await this.watch({ model: body.model, version: version.version, environment: body.environment }, principal) };
  }

  /** The monitor of a new deployment's version; whatever goes wrong is reported, and the deployment stands. */
  private async watch(target: { model: string; version: number; environment: string }, principal: Principal): Promise<DeploymentMonitor> {
    try {
      return await this.deps.monitor!(target, principal);
    } catch (error) {
      const reason = error instanceof PlatformError ? error.message : "the monitor could not be created";
      if (!(error instanceof PlatformError)) this.deps.logger.error({ err: error, ...target }, "creating the monitor of a new deployment failed");
      return { id: null, created: false, note: `not monitored: ${reason}` };
    }
  }

  async get(id: string): Promise<DeploymentView> {
    const row = await this.row(id);
    return this.withScaleLimit(deploymentView(row, await this.deps.store.overrides([row.id])));
  }

  /**
   * One page of deployments of the teams `reader` may read (every team without a reader), newest
   * first; `nextPageToken` is set when older ones remain.
   */
  async list(
    filter: { model?: string | undefined; environment?: string | undefined; createdBy?: string | undefined; limit: number; pageToken?: string | undefined },
    reader?: Principal,
  ): Promise<{ deployments: DeploymentView[]; nextPageToken?: string }> {
    const teams = reader ? visibleTeams(reader, "deployments:read") : undefined;
    if (filter.createdBy === "me" && !reader) throw invalidInput("createdBy 'me' needs a caller; name the user");
    const createdBy = filter.createdBy === "me" ? reader!.name : filter.createdBy;
    const rows = await this.deps.store.list({ model: filter.model, environment: filter.environment, createdBy, teams }, { limit: filter.limit + 1, before: filter.pageToken === undefined ? undefined : decodePositionToken(filter.pageToken) });
    const { page, nextPageToken } = cutPage(rows, filter.limit, (last) => encodePositionToken({ createdAt: last.created_at, id: last.id }));
    const overrides = await this.deps.store.overrides(page.map((r) => r.id));
    return { deployments: page.map((r) => this.withScaleLimit(deploymentView(r, overrides))), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  async pause(id: string): Promise<DeploymentView> {
    await this.active(id, "pause");
    await this.deps.store.setPaused(id, true, this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  /** Pauses the rollout progressing for a model in an environment (an alert's doing); its id, or undefined when none is progressing unpaused. */
  async pauseActive(model: string, environment: string): Promise<string | undefined> {
    const row = await this.deps.store.active(model, environment);
    if (!row || row.phase !== "Progressing" || row.paused === 1) return undefined;
    await this.deps.store.setPaused(row.id, true, this.deps.clock.now());
    this.deps.kick();
    return row.id;
  }

  async resume(id: string): Promise<DeploymentView> {
    await this.active(id, "resume");
    await this.deps.store.setPaused(id, false, this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  /** Asks the controller to roll back now. */
  async rollback(id: string): Promise<DeploymentView> {
    await this.active(id, "rollback");
    await this.deps.store.request(id, "rollback", this.deps.clock.now());
    this.deps.kick();
    return this.get(id);
  }

  /**
   * Asks the controller to promote now (canary: skipping the remaining steps; A/B: B wins;
   * shadow: it takes the traffic), if the analysis the controller last saved passes. A failing or
   * missing analysis is refused with GATE_FAILED unless `force` comes with a reason: then the
   * override (who, when, why, the verdict overridden) is recorded and the promotion goes ahead.
   * In production, forcing takes the right to override gates (admin until teams land).
   */
  async promote(id: string, body: PromoteBody, principal: Principal): Promise<DeploymentView> {
    const row = await this.active(id, "promote");
    const spec = JSON.parse(row.spec) as DeploymentSpec;
    const status = JSON.parse(row.status) as DeploymentStatus;
    const analysis = status.analysis ?? { verdict: "missing" as const, reason: "nothing analysed yet", updatedAt: row.created_at };
    const now = this.deps.clock.now();
    if (analysis.verdict === "passing") {
      await this.deps.store.request(id, "promote", now);
    } else if (!body.force) {
      throw new PlatformError(
        "GATE_FAILED",
        `deployment '${id}' (${spec.model}@${spec.version} to ${spec.environment}) has a ${analysis.verdict} analysis: ${analysis.reason}; wait for a passing analysis (\`paved deployments status ${id}\`), roll back, or promote anyway with \`paved deployments promote ${id} --force --reason "<why>"\` (recorded)`,
        { deployment: id, verdict: analysis.verdict, reason: analysis.reason },
      );
    } else {
      // Forcing production past its analysis is a gate override, as forcing the production alias is.
      if (spec.environment === DEFAULT_ENVIRONMENT) authorize(principal, "gates:override", { kind: "deployment", id, team: row.team_id });
      await this.deps.admission?.({ action: "force-promote", model: spec.model, environment: spec.environment, team: row.team_id }, principal);
      const reason = body.reason!.trim();
      await this.deps.store.requestOverride(
        {
          id: this.deps.ids.prefixed("override"),
          deployment_id: id,
          model_name: spec.model,
          environment: spec.environment,
          version: spec.version,
          action: "promote",
          verdict: analysis.verdict,
          verdict_reason: analysis.reason,
          user_id: principal.name,
          reason,
          created_at: now,
        },
        now,
      );
      this.deps.logger.warn({ deployment: id, model: spec.model, version: spec.version, environment: spec.environment, user: principal.name, verdict: analysis.verdict, reason }, "deployment promoted past its analysis");
    }
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

  /** A view with serving's word on its autoscaling, when the team's quota holds it back (read live, never stored). */
  private withScaleLimit(view: DeploymentView): DeploymentView {
    const limit = this.deps.scaleLimit?.(view.spec.model, view.spec.environment);
    return limit === undefined ? view : { ...view, status: { ...view.status, scaleLimit: limit } };
  }

  private async row(id: string): Promise<DeploymentRow> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingDeployment(id);
    return row;
  }

  private async active(id: string, action: string): Promise<DeploymentRow> {
    const row = await this.row(id);
    if (!ACTIVE_PHASES.includes(row.phase)) throw new PlatformError("CONFLICT", `deployment '${id}' is ${row.phase}; only a Progressing or Paused deployment can ${action}`);
    return row;
  }
}

function missingDeployment(id: string): Error {
  return notFound(`deployment '${id}' does not exist; list deployments with \`paved deployments ls\``);
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

/** The path of a model's OIP endpoint in an environment (production keeps the unprefixed one). */
export function endpointOf(model: string, environment: string): string {
  return environment === DEFAULT_ENVIRONMENT ? `/v2/models/${model}` : `/environments/${environment}/v2/models/${model}`;
}

export function overrideView(o: OverrideRow): DeploymentOverrideView {
  return { id: o.id, version: o.version, environment: o.environment, action: o.action, verdict: o.verdict, verdictReason: o.verdict_reason, user: o.user_id, reason: o.reason, createdAt: o.created_at };
}

/** A deployment as the API shows it, with its forced promotions (from `overrides`, any deployment's). */
export function deploymentView(row: DeploymentRow, overrides: OverrideRow[]): DeploymentView {
  return {
    id: row.id,
    team: row.team_id,
    spec: JSON.parse(row.spec),
    status: JSON.parse(row.status),
    endpoint: endpointOf(row.model_name, row.environment),
    overrides: overrides.filter((o) => o.deployment_id === row.id).map(overrideView),
    paused: row.paused === 1,
    requested: row.requested,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
