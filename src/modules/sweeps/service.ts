import { randomInt } from "node:crypto";
import { notFound, PlatformError, type Clock, type IdGenerator, type Principal, type ResourceRef } from "../../core/index.ts";
import type { JobService, ResourceRequest, RunRecorder } from "../compute/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { checkPlaceholders, parameterNames, trialJobSpec, trialParams, trialsTarget } from "./search.ts";
import type { RungRecord, Sweep, SweepPhase, SweepSpec, TrialParams, TrialPhase, TrialView } from "./schema.ts";
import type { SweepRow, SweepStore, TrialRow } from "./store.ts";

/** A team's quota limits a sweep's parallelism is checked against (null: no limit). */
export type TeamLimits = (team: string) => Promise<{ gpus: number | null; cpus: number | null; memoryMiB: number | null }>;

export interface SweepServiceDeps {
  store: SweepStore;
  jobs: JobService;
  runs: Pick<RunRecorder, "ensureExperiment" | "createRun" | "logParams">;
  clock: Clock;
  ids: IdGenerator;
  /** The team's quota, for refusing a parallelism it could never hold; unset: unlimited. */
  limits?: TeamLimits;
  kick: () => void;
}

/** Creating, reading and cancelling sweeps; the controller runs their trials. */
export class SweepService {
  constructor(private readonly deps: SweepServiceDeps) {}

  async newResource(spec: Pick<SweepSpec, "team">, principal: Principal): Promise<ResourceRef> {
    return { kind: "sweep", id: "(new)", team: await this.deps.jobs.teamFor(spec, principal) };
  }

  /** A sweep as the policy sees it; one of another team answers as a missing one. */
  async resource(id: string): Promise<ResourceRef> {
    const team = await this.deps.store.team(id);
    if (team === undefined) throw missingSweep(id);
    return { kind: "sweep", id, team, notFound: () => missingSweep(id) };
  }

  /**
   * Checks the sweep (its space, the first trial's job as submit would, its parallelism against
   * the team's quota), records its parent run and stores it; the controller starts its trials.
   */
  async create(spec: SweepSpec, principal: Principal): Promise<Sweep> {
    const { store, jobs, runs, clock, ids } = this.deps;
    const team = await jobs.teamFor(spec, principal);
    const target = trialsTarget(spec);
    checkPlaceholders(spec.trial, parameterNames(spec.parameters));
    const seed = spec.seed ?? randomInt(0, 2 ** 31 - 1);
    const experiment = spec.experiment ?? spec.name;
    // The first trial's job, checked as submit would check it: working dir, profile, policies, budget.
    const first = trialJobSpec(spec.trial, { name: spec.name, team, experiment }, 1, trialParams(spec, seed, 0));
    const check = await jobs.check(first, principal);
    await this.assertParallelism(team, spec.parallelism, Math.min(spec.parallelism, target), check.request);
    const id = ids.prefixed("sweep");
    const owner = principal.onBehalfOf ?? principal.name;
    const experimentId = await runs.ensureExperiment(experiment, team);
    const parent = await runs.createRun({
      experimentId,
      runName: spec.name,
      userId: owner,
      status: "RUNNING",
      tags: { "paved.sweep_id": id, "paved.sweep.method": spec.method, "paved.sweep.objective": `${spec.objective.goal} ${spec.objective.metric}` },
    });
    await runs.logParams(parent.runId, {
      "sweep.method": spec.method,
      "sweep.objective": `${spec.objective.goal} ${spec.objective.metric}`,
      "sweep.trials": String(target),
      "sweep.parallelism": String(spec.parallelism),
      "sweep.seed": String(seed),
    });
    const resolved: SweepSpec = { ...spec, team, experiment, seed };
    await store.insert(
      {
        sweep_id: id,
        name: spec.name,
        team_id: team,
        owner,
        principal: JSON.stringify(principal),
        spec: JSON.stringify(resolved),
        phase: "RUNNING",
        experiment_id: experimentId,
        parent_run_id: parent.runId,
        trials_target: target,
        created_at: clock.now(),
      },
      { type: "Created", message: `created by ${owner} in team ${team}: ${spec.method} over ${parameterNames(spec.parameters).join(", ")}, ${target} trials, ${spec.parallelism} at a time, ${spec.objective.goal} ${spec.objective.metric}; seed ${seed}` },
    );
    this.deps.kick();
    return this.get(id);
  }

  /**
   * A parallelism the team's quota could never hold is refused (QUOTA_EXCEEDED with the fix);
   * one within it may still wait for the quota other jobs of the team use, like any job.
   */
  private async assertParallelism(team: string, parallelism: number, atOnce: number, request: ResourceRequest): Promise<void> {
    const limits = await this.deps.limits?.(team);
    if (!limits) return;
    const checks: { what: string; per: number; limit: number | null; flag: string; unit: string }[] = [
      { what: "GPUs", per: request.gpus, limit: limits.gpus, flag: "--gpus", unit: "" },
      { what: "CPUs", per: request.cpus, limit: limits.cpus, flag: "--cpus", unit: "" },
      { what: "MiB of memory", per: request.memoryMiB, limit: limits.memoryMiB, flag: "--memory", unit: "Mi" },
    ];
    for (const c of checks) {
      if (c.limit === null || c.per <= 0 || atOnce * c.per <= c.limit) continue;
      const fits = Math.floor(c.limit / c.per);
      throw new PlatformError(
        "QUOTA_EXCEEDED",
        `parallelism ${parallelism} runs ${atOnce} trials at once, ${atOnce * c.per} ${c.what} (${c.per} each), over team ${team}'s quota of ${c.limit}; set parallelism: ${Math.max(1, fits)}${fits < 1 ? " and ask for less per trial" : ""}, or ask a platform admin to raise it: paved quotas set ${team} ${c.flag} ${atOnce * c.per}${c.unit}`,
        { team, resource: c.what, limit: c.limit, perTrial: c.per, parallelism, fits },
      );
    }
  }

  async get(id: string): Promise<Sweep> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingSweep(id);
    const trials = await this.deps.store.trials(id);
    const counts = countPhases(trials);
    return { ...toSweep(row, counts, trials), trials: trials.map(toTrial), events: await this.deps.store.events(id), spec: JSON.parse(row.spec) };
  }

  async list(opts: { limit: number }, reader?: Principal): Promise<Sweep[]> {
    const teams = reader ? visibleTeams(reader, "sweeps:read") : undefined;
    const rows = await this.deps.store.list({ limit: opts.limit, teams });
    const counts = await this.deps.store.counts(rows.map((r) => r.sweep_id));
    const out: Sweep[] = [];
    for (const row of rows) {
      const best = row.best_trial === null ? [] : (await this.deps.store.trials(row.sweep_id)).filter((t) => t.trial_index === row.best_trial);
      out.push(toSweep(row, counts.get(row.sweep_id) ?? {}, best));
    }
    return out;
  }

  /** Cancels a running sweep: no trial starts after, and the controller cancels its queued and running trials. */
  async cancel(id: string, principal: Principal): Promise<Sweep> {
    const by = principal.onBehalfOf ?? principal.name;
    await this.deps.store.transition(id, ["RUNNING"], "CANCELLING", { message: `cancelled by ${by}` }, { type: "Cancelling", message: `cancelled by ${by}; its queued and running trials are being cancelled`, time: this.deps.clock.now() });
    this.deps.kick();
    return this.get(id);
  }
}

function missingSweep(id: string): Error {
  return notFound(`sweep '${id}' does not exist; list sweeps with \`paved sweeps ls\``);
}

function countPhases(trials: TrialRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const t of trials) counts[t.phase] = (counts[t.phase] ?? 0) + 1;
  return counts;
}

export function toTrial(t: TrialRow): TrialView {
  return {
    index: Number(t.trial_index),
    params: JSON.parse(t.params) as TrialParams,
    jobId: t.job_id,
    runId: t.run_id,
    phase: t.phase as TrialPhase,
    objective: t.objective === null ? null : Number(t.objective),
    objectiveStep: t.objective_step === null ? null : Number(t.objective_step),
    rungs: JSON.parse(t.rungs) as RungRecord[],
    message: t.message,
  };
}

function toSweep(row: SweepRow, counts: Record<string, number>, trials: TrialRow[]): Sweep {
  const spec = JSON.parse(row.spec) as SweepSpec;
  const bestRow = row.best_trial === null ? undefined : trials.find((t) => Number(t.trial_index) === Number(row.best_trial));
  return {
    id: row.sweep_id,
    name: row.name,
    team: row.team_id,
    owner: row.owner,
    phase: row.phase as SweepPhase,
    method: spec.method,
    objective: spec.objective,
    experimentId: row.experiment_id,
    parentRunId: row.parent_run_id,
    seed: spec.seed ?? 0,
    parallelism: spec.parallelism,
    trialsTarget: Number(row.trials_target),
    counts,
    best:
      bestRow && row.best_value !== null
        ? { index: Number(bestRow.trial_index), value: Number(row.best_value), params: JSON.parse(bestRow.params) as TrialParams, jobId: bestRow.job_id, runId: bestRow.run_id, link: bestRow.run_id ? `runs:/${bestRow.run_id}` : null }
        : null,
    message: row.message,
    createdAt: Number(row.created_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}
