import { conflict, decodeNameToken, decodePositionToken, encodeNameToken, encodePositionToken, invalidInput, isPlatformError, notFound, type Clock, type IdGenerator, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { expandSteps, planPipeline, runParameters, type PlannedStep } from "./dag.ts";
import type { ParameterValue, Pipeline, PipelineRun, PipelineSpec, RunPhase, StepPhase, StepView } from "./schema.ts";
import type { StepRegistry } from "./steps.ts";
import type { PipelineRow, PipelineStore, RunRow, StepRow } from "./store.ts";

export interface PipelineServiceDeps {
  store: PipelineStore;
  kinds: StepRegistry;
  clock: Clock;
  ids: IdGenerator;
  /** The team a new pipeline goes to (the spec's, if the caller may create there; else the caller's default). */
  teamFor: (requested: string | undefined, principal: Principal) => Promise<string>;
  kick: () => void;
}

/** Applying, reading and running pipelines; the controller runs the steps. */
export class PipelineService {
  constructor(private readonly deps: PipelineServiceDeps) {}

  /** A pipeline being applied as the policy sees it: the team it belongs (or would belong) to. */
  async applyResource(spec: PipelineSpec, principal: Principal): Promise<ResourceRef> {
    const existing = await this.deps.store.pipeline(spec.metadata.name);
    const team = existing?.team_id ?? (await this.deps.teamFor(spec.metadata.team, principal));
    return { kind: "pipeline", id: spec.metadata.name, team, notFound: () => nameTaken(spec.metadata.name) };
  }

  /** A pipeline as the policy sees it; one of another team answers as a missing one. */
  async resource(name: string): Promise<ResourceRef> {
    const row = await this.deps.store.pipeline(name);
    if (!row) throw missingPipeline(name);
    return { kind: "pipeline", id: name, team: row.team_id, notFound: () => missingPipeline(name) };
  }

  async runResource(id: string): Promise<ResourceRef> {
    const team = await this.deps.store.runTeam(id);
    if (team === undefined) throw missingRun(id);
    return { kind: "pipeline", id, team, notFound: () => missingRun(id) };
  }

  /**
   * Checks the pipeline (kinds, references, cycles, bounds; see planPipeline) and stores it; applied
   * again, a changed spec becomes the next version and an unchanged one is left as it is.
   */
  async apply(spec: PipelineSpec, principal: Principal): Promise<Pipeline> {
    const { store, clock, ids } = this.deps;
    planPipeline(spec, this.deps.kinds);
    const name = spec.metadata.name;
    const text = JSON.stringify(spec);
    const now = clock.now();
    const existing = await store.pipeline(name);
    if (existing) {
      if (spec.metadata.team && spec.metadata.team !== existing.team_id) {
        if (!sees(principal, existing.team_id)) throw nameTaken(name);
        throw invalidInput(`pipeline '${name}' belongs to team '${existing.team_id}', not '${spec.metadata.team}'; leave metadata.team out or name '${existing.team_id}'`);
      }
      if (existing.spec !== text) {
        if (!(await store.updatePipeline(existing.pipeline_id, Number(existing.version), { spec: text, description: spec.metadata.description ?? null, version: Number(existing.version) + 1, updated_at: now }))) {
          throw conflict(`pipeline '${name}' was applied by someone else at the same time; apply again`);
        }
      }
      return this.get(name);
    }
    const team = await this.deps.teamFor(spec.metadata.team, principal);
    try {
      await store.insertPipeline({ pipeline_id: ids.prefixed("pipeline"), name, team_id: team, description: spec.metadata.description ?? null, spec: text, version: 1, created_by: principal.onBehalfOf ?? principal.name, created_at: now, updated_at: now });
    } catch (error) {
      if (await store.pipeline(name)) throw nameTaken(name);
      throw error;
    }
    return this.get(name);
  }

  async get(name: string): Promise<Pipeline> {
    const row = await this.deps.store.pipeline(name);
    if (!row) throw missingPipeline(name);
    return { ...toPipeline(row), spec: JSON.parse(row.spec) };
  }

  /**
   * One page of the pipelines of the teams `reader` may read (every team without a reader), by
   * name; `nextPageToken` is set when more remain.
   */
  async list(opts: { limit: number; pageToken?: string | undefined }, reader?: Principal): Promise<{ pipelines: Pipeline[]; nextPageToken?: string }> {
    const teams = reader ? visibleTeams(reader, "pipelines:read") : undefined;
    const after = opts.pageToken === undefined ? undefined : decodeNameToken(opts.pageToken);
    const rows = await this.deps.store.pipelines({ limit: opts.limit + 1, teams, after });
    const { page, nextPageToken } = cutPage(rows, opts.limit, (last) => encodeNameToken(last.name));
    return { pipelines: page.map(toPipeline), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * Starts a run with the pipeline's current spec and these parameters (over its defaults); the
   * controller runs it. `runId` (a trigger's, chosen when it recorded its firing) makes the start
   * idempotent: a run of that id already there is answered as it is.
   */
  async startRun(name: string, given: Record<string, ParameterValue>, principal: Principal, options: { runId?: string; reason?: string } = {}): Promise<PipelineRun> {
    const { store, clock, ids } = this.deps;
    const row = await store.pipeline(name);
    if (!row) throw missingPipeline(name);
    if (options.runId !== undefined && (await store.run(options.runId))) return this.getRun(options.runId);
    const spec = JSON.parse(row.spec) as PipelineSpec;
    // Planned again: a step kind the pipeline uses may be gone since it was applied.
    const plan = planPipeline(spec, this.deps.kinds);
    const params = runParameters(spec.spec.parameters, given);
    const instances = expandSteps(plan, params);
    const id = options.runId ?? ids.prefixed("prun");
    const now = clock.now();
    const owner = principal.onBehalfOf ?? principal.name;
    const plans = new Map<string, string>(plan.map((p) => [p.name, JSON.stringify(p)]));
    await store.insertRun(
      { run_id: id, pipeline_id: row.pipeline_id, pipeline_name: name, pipeline_version: Number(row.version), team_id: row.team_id, owner, principal: JSON.stringify(principal), params: JSON.stringify(params), phase: "RUNNING", message: null, created_at: now, updated_at: now, finished_at: null },
      instances.map((inst, position) => ({
        run_id: id,
        step_key: inst.key,
        pipeline_id: row.pipeline_id,
        position,
        step_name: inst.step.name,
        kind: inst.step.kind,
        plan: plans.get(inst.step.name)!,
        item: inst.hasItem ? JSON.stringify(inst.item) : null,
        phase: "pending",
        attempt: 1,
        start_key: null,
        handle: null,
        body: null,
        cache_key: null,
        cached_from_run: null,
        cached_from_step: null,
        outputs: null,
        message: null,
        started_at: null,
        deadline_at: null,
        finished_at: null,
        updated_at: now,
      })),
      { type: "Started", message: `started by ${owner}${options.reason ? ` (${options.reason})` : ""}: pipeline ${name} version ${row.version}, ${instances.length} steps${Object.keys(given).length ? `, parameters ${Object.entries(given).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")}` : ""}` },
    );
    this.deps.kick();
    return this.getRun(id);
  }

  /** One page of a pipeline's runs, newest first; `nextPageToken` is set when older ones remain. */
  async runs(name: string, opts: { limit: number; pageToken?: string | undefined }): Promise<{ runs: PipelineRun[]; nextPageToken?: string }> {
    const before = opts.pageToken === undefined ? undefined : decodePositionToken(opts.pageToken);
    const row = await this.deps.store.pipeline(name);
    if (!row) throw missingPipeline(name);
    const rows = await this.deps.store.runs({ limit: opts.limit + 1, pipelineId: row.pipeline_id, before });
    const { page, nextPageToken } = cutPage(rows, opts.limit, (last) => encodePositionToken({ createdAt: Number(last.created_at), id: last.run_id }));
    const counts = await this.deps.store.counts(page.map((r) => r.run_id));
    return { runs: page.map((r) => toRun(r, counts.get(r.run_id) ?? {})), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /** The parameters of every run not finished yet (RUNNING or CANCELLING), as the controller reconciles them. */
  async unfinishedRunParams(): Promise<Record<string, ParameterValue>[]> {
    const rows = await this.deps.store.runs({ limit: 10_000, phases: ["RUNNING", "CANCELLING"] });
    return rows.map((r) => JSON.parse(r.params) as Record<string, ParameterValue>);
  }

  async getRun(id: string): Promise<PipelineRun> {
    const row = await this.deps.store.run(id);
    if (!row) throw missingRun(id);
    const steps = await this.deps.store.steps(id);
    const counts: Record<string, number> = {};
    for (const s of steps) counts[s.phase] = (counts[s.phase] ?? 0) + 1;
    return { ...toRun(row, counts), steps: steps.map(toStep), events: await this.deps.store.events(id) };
  }

  /** Cancels a running run: no step starts after, and the controller cancels its running steps (their jobs too). */
  async cancel(id: string, principal: Principal): Promise<PipelineRun> {
    const by = principal.onBehalfOf ?? principal.name;
    await this.deps.store.transitionRun(id, ["RUNNING"], "CANCELLING", { message: `cancelled by ${by}` }, { type: "Cancelling", message: `cancelled by ${by}; its running steps are being cancelled`, time: this.deps.clock.now() });
    this.deps.kick();
    return this.getRun(id);
  }

  /** The logs of a run's steps whose kind keeps any (a job step's, through compute), or of one step. */
  async logs(id: string, opts: { step?: string | undefined; limitBytes?: number | undefined }): Promise<{ step: string; handle: string | null; text: string }[]> {
    const steps = await this.deps.store.steps(id);
    const picked = opts.step === undefined ? steps : steps.filter((s) => s.step_key === opts.step || s.step_name === opts.step);
    if (opts.step !== undefined && picked.length === 0) {
      throw invalidInput(`run ${id} has no step '${opts.step}'; its steps: ${steps.slice(0, 50).map((s) => s.step_key).join(", ")}`);
    }
    const out: { step: string; handle: string | null; text: string }[] = [];
    for (const s of picked) {
      const kind = this.deps.kinds.has(s.kind) ? this.deps.kinds.get(s.kind) : undefined;
      if (!kind?.logs) continue;
      if (s.handle === null) {
        out.push({ step: s.step_key, handle: null, text: s.phase === "cached" ? `(cached: see run ${s.cached_from_run} step ${s.cached_from_step})\n` : "" });
        continue;
      }
      try {
        out.push({ step: s.step_key, handle: s.handle, text: await kind.logs(s.handle, { limitBytes: opts.limitBytes }) });
      } catch (error) {
        if (!isPlatformError(error)) throw error;
        out.push({ step: s.step_key, handle: s.handle, text: `(no logs: ${error.message})\n` });
      }
    }
    return out;
  }
}

/** Whether the principal belongs to the team (a job's token: its job's team). */
function sees(principal: Principal, team: string): boolean {
  return principal.platformAdmin || principal.teams[team] !== undefined || (principal.kind === "job" && principal.team === team);
}

function missingPipeline(name: string): Error {
  return notFound(`pipeline '${name}' does not exist; list pipelines with \`paved pipelines ls\``);
}

function missingRun(id: string): Error {
  return notFound(`pipeline run '${id}' does not exist; list a pipeline's runs with \`paved pipelines runs <name>\``);
}

function nameTaken(name: string): Error {
  return conflict(`the pipeline name '${name}' is taken; choose another metadata.name`);
}

function toPipeline(row: PipelineRow): Pipeline {
  const spec = JSON.parse(row.spec) as PipelineSpec;
  return {
    name: row.name,
    team: row.team_id,
    description: row.description,
    version: Number(row.version),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    steps: spec.spec.steps.map((s) => ({ name: s.name, kind: Object.keys(s).find((k) => !["name", "dependsOn", "retries", "timeoutSeconds", "forEach", "cache"].includes(k)) ?? "?", dependsOn: s.dependsOn })),
  };
}

function toRun(row: RunRow, counts: Record<string, number>): PipelineRun {
  return {
    id: row.run_id,
    pipeline: row.pipeline_name,
    pipelineVersion: Number(row.pipeline_version),
    team: row.team_id,
    owner: row.owner,
    phase: row.phase as RunPhase,
    parameters: JSON.parse(row.params) as Record<string, unknown>,
    counts,
    message: row.message,
    createdAt: Number(row.created_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}

export function toStep(s: StepRow): StepView {
  const plan = JSON.parse(s.plan) as PlannedStep;
  return {
    key: s.step_key,
    step: s.step_name,
    kind: s.kind,
    ...(s.item !== null ? { item: JSON.parse(s.item) as unknown } : {}),
    phase: s.phase as StepPhase,
    attempt: Number(s.attempt),
    handle: s.handle,
    outputs: s.outputs ? (JSON.parse(s.outputs) as Record<string, unknown>) : {},
    cacheKey: plan.cache ? s.cache_key : null,
    cachedFrom: s.cached_from_run ? { run: s.cached_from_run, step: s.cached_from_step ?? s.step_key } : null,
    message: s.message,
    startedAt: s.started_at === null ? null : Number(s.started_at),
    finishedAt: s.finished_at === null ? null : Number(s.finished_at),
  };
}
