import { isPlatformError, PlatformError, ReconcileLoop, type Clock, type IdGenerator, type Logger, type Principal } from "../../core/index.ts";
import type { Job, JobService, RunRecorder } from "../compute/index.ts";
import { ashaJudge, better, rungResources, trialJobSpec, trialParams } from "./search.ts";
import type { RungRecord, SweepPhase, SweepSpec, TrialParams, TrialPhase } from "./schema.ts";
import { ACTIVE_TRIAL_PHASES, type SweepRow, type SweepStore, type TrialRow } from "./store.ts";

/** What the controller reads of trials' runs (tracking's service): metric histories, and runs by tag. */
export interface MetricHistory {
  getMetricHistory(runId: string, key: string, page?: { maxResults?: number; pageToken?: string }): Promise<{ points: { value: number; step: number }[]; nextPageToken?: string }>;
  searchRuns(input: { experimentIds?: string[]; filter?: string; maxResults?: number }): Promise<{ runs: { info: { run_id: string } }[] }>;
  deleteRun(runId: string): Promise<void>;
}

export interface SweepControllerDeps {
  store: SweepStore;
  jobs: JobService;
  runs: Pick<RunRecorder, "logParams" | "logMetrics" | "setTags" | "finishRun"> & MetricHistory;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The principal of a user by id, fresh (their teams now); unset: the one stored with the sweep. */
  principalOf?: (userId: string) => Promise<Principal | undefined>;
  intervalMs?: number;
}

/** A stored rung record; `stopped` marks the rung that stopped the trial (written before its job is cancelled). */
type StoredRung = RungRecord & { stopped?: boolean };

const JOB_ENDED = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
const ENDING: SweepPhase[] = ["CANCELLING", "FAILING"];

/**
 * Runs sweeps: keeps `parallelism` trials going until the sweep's trials are all started, follows
 * each trial's job and run (its objective, and with ASHA its metric at each rung, stopping trials
 * that fall below the rung's cutoff), records the best trial, and ends the sweep. A trial is
 * reserved in the database (its index, parameters and its job's id) before its job is submitted,
 * under that id: after a restart, a reserved trial whose job exists is adopted, one whose job does
 * not is submitted, so a kill -9 neither loses nor duplicates trials.
 */
export class SweepController {
  private readonly loop: ReconcileLoop;

  constructor(private readonly deps: SweepControllerDeps) {
    this.loop = new ReconcileLoop(() => this.pass(), { intervalMs: deps.intervalMs ?? 1000, onError: (error) => deps.logger.error({ err: error }, "sweep pass failed") });
    // A trial's end starts the next one at once instead of at the next pass (the polling was most
    // of a trivial trial's queue overhead in the 1,000-trial bench).
    deps.jobs.onJobEnded(() => this.loop.kick());
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }

  kick(): void {
    this.loop.kick();
  }

  private async pass(): Promise<void> {
    const rows = await this.deps.store.list({ limit: 10_000, phases: ["RUNNING", ...ENDING] });
    for (const row of rows) {
      if (!this.loop.running) return;
      try {
        await this.reconcile(row);
      } catch (error) {
        this.deps.logger.warn({ err: error, sweepId: row.sweep_id }, "reconciling a sweep failed; trying again next pass");
      }
    }
  }

  private async reconcile(row: SweepRow): Promise<void> {
    const spec = JSON.parse(row.spec) as SweepSpec;
    const running = row.phase === "RUNNING";
    const trials = await this.deps.store.trials(row.sweep_id);
    const atRung = rungValues(trials);
    for (const trial of trials) {
      if (!this.loop.running) return;
      if (ACTIVE_TRIAL_PHASES.includes(trial.phase as TrialPhase)) {
        await this.observe(row, spec, trial, atRung, running);
      }
    }
    const now = await this.deps.store.trials(row.sweep_id);
    await this.recordBest(row, spec, now);
    let active = now.filter((t) => ACTIVE_TRIAL_PHASES.includes(t.phase as TrialPhase)).length;
    if (running) {
      for (let index = now.length + 1; index <= Number(row.trials_target) && active < spec.parallelism; index++) {
        if (!this.loop.running) return;
        const params = trialParams(spec, spec.seed ?? 0, index - 1);
        const jobId = this.deps.ids.prefixed("job");
        if (!(await this.deps.store.reserveTrial({ sweepId: row.sweep_id, index, params: JSON.stringify(params), jobId, time: this.deps.clock.now() }))) return;
        active++;
        await this.submit(row, spec, { trial_index: index, job_id: jobId, params: JSON.stringify(params) });
      }
      if (now.length >= Number(row.trials_target) && active === 0) await this.finish(row, spec, "SUCCEEDED");
    } else if (active === 0) {
      await this.finish(row, spec, row.phase === "FAILING" ? "FAILED" : "CANCELLED");
    }
  }

  /** Follows one trial: its job's phase, its objective, ASHA's rungs; cancels it when its sweep is ending. */
  private async observe(row: SweepRow, spec: SweepSpec, trial: TrialRow, atRung: Map<number, number[]>, running: boolean): Promise<void> {
    const { store, jobs, clock } = this.deps;
    const index = Number(trial.trial_index);
    const job = await jobs.get(trial.job_id).catch((error: unknown) => {
      if (isPlatformError(error) && error.code === "NOT_FOUND") return undefined;
      throw error;
    });
    if (!job) {
      if (trial.phase !== "PENDING") {
        await store.patchTrial(row.sweep_id, index, ACTIVE_TRIAL_PHASES, { phase: "FAILED", message: `its job ${trial.job_id} is gone`, updated_at: clock.now() });
      } else if (running) {
        // Reserved before a restart, never submitted: submit it now, under the reserved id. A run
        // recorded for it before the crash (its job never stored) is deleted first: one run per trial.
        const orphans = await this.deps.runs.searchRuns({ experimentIds: [row.experiment_id], filter: `tags.\`paved.job_id\` = '${trial.job_id}'`, maxResults: 10 });
        for (const orphan of orphans.runs) await this.deps.runs.deleteRun(orphan.info.run_id);
        await this.submit(row, spec, trial);
      } else {
        await store.patchTrial(row.sweep_id, index, ["PENDING"], { phase: "CANCELLED", message: "the sweep ended before this trial was submitted", updated_at: clock.now() });
      }
      return;
    }
    const rungs = JSON.parse(trial.rungs) as StoredRung[];
    const ended = JOB_ENDED.has(job.phase);
    const patch: Partial<TrialRow> = {};
    if (trial.run_id !== job.runId) patch.run_id = job.runId;
    let metric: { value: number; step: number }[] = [];
    if (job.runId) metric = await this.history(job.runId, spec.objective.metric);
    const last = metric.at(-1);
    const objective = Number.isFinite(last?.value) ? last!.value : null;
    if (last && (trial.objective_step === null || Number(trial.objective_step) !== last.step || (trial.objective === null ? null : Number(trial.objective)) !== objective)) {
      patch.objective = objective;
      patch.objective_step = last.step;
    }
    let stopAt: StoredRung | undefined = rungs.find((r) => r.stopped);
    if (spec.asha && !stopAt) {
      const judged = new Set(rungs.map((r) => r.rung));
      const maxStep = metric.length ? Math.max(...metric.map((p) => p.step)) : -1;
      for (const [rung, resource] of rungResources(spec.asha).entries()) {
        if (judged.has(rung) || maxStep < resource) continue;
        const value = valueAt(metric, resource);
        if (value === undefined) continue;
        const earlier = atRung.get(rung) ?? [];
        const verdict = ashaJudge(earlier, value, spec.objective.goal, spec.asha.reductionFactor);
        // A trial that already ended still records its value: later trials are judged against it.
        const stop = verdict.stop && !ended && running;
        const record: StoredRung = { rung, resource, value, ...(stop ? { stopped: true } : {}) };
        rungs.push(record);
        earlier.push(value);
        atRung.set(rung, earlier);
        if (stop) {
          stopAt = record;
          const message = `stopped early by ASHA at rung ${rung} (step ${resource}): ${spec.objective.metric} ${value} is not in the best 1/${spec.asha.reductionFactor} of the ${earlier.length - 1} trials before it there (cutoff ${verdict.cutoff})`;
          await store.appendEvent(row.sweep_id, { type: "TrialStopped", message: `trial ${index}: ${message}`, time: clock.now() });
          break;
        }
      }
      if (rungs.length !== judged.size) patch.rungs = JSON.stringify(rungs);
    }
    const told = (type: string) => job.events.some((e) => e.type === type);
    if (stopAt) {
      // Recorded first, then the job is cancelled: a restart in between cancels it again.
      // The trial holds its place among the running ones until its job has ended.
      if (!ended && patch.rungs !== undefined) {
        await store.patchTrial(row.sweep_id, index, [trial.phase as TrialPhase], { rungs: patch.rungs, updated_at: clock.now() });
        delete patch.rungs;
      }
      if (!ended && !told("SweepStopped")) {
        await jobs.stop(job.id, { type: "SweepStopped", message: `sweep ${row.sweep_id} stopped this trial early at rung ${stopAt.rung} (step ${stopAt.resource}): ${spec.objective.metric} ${stopAt.value} was below the rung's cutoff` });
      }
      if (ended) {
        patch.phase = "STOPPED";
        patch.message = `stopped early at rung ${stopAt.rung} (step ${stopAt.resource}): ${spec.objective.metric} ${stopAt.value} was below the rung's cutoff`;
      }
    } else if (!running && !ended) {
      if (!told("SweepCancelled")) await jobs.stop(job.id, { type: "SweepCancelled", message: `its sweep ${row.sweep_id} is ${row.phase === "FAILING" ? "failing" : "cancelled"}: ${row.message ?? ""}` });
    } else {
      patch.phase = trialPhaseOf(job);
      if (ended && job.phase !== "SUCCEEDED") patch.message = job.message;
    }
    if (patch.phase === trial.phase) delete patch.phase;
    if (Object.keys(patch).length === 0) return;
    await store.patchTrial(row.sweep_id, index, [trial.phase as TrialPhase], { ...patch, updated_at: clock.now() });
  }

  /** A metric's whole history, in step order. */
  private async history(runId: string, key: string): Promise<{ value: number; step: number }[]> {
    const points: { value: number; step: number }[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.deps.runs.getMetricHistory(runId, key, pageToken ? { pageToken } : {}).catch((error: unknown) => {
        if (isPlatformError(error) && (error.code === "NOT_FOUND" || error.code === "INVALID_INPUT")) return { points: [] as { value: number; step: number }[], nextPageToken: undefined };
        throw error;
      });
      points.push(...page.points.map((p) => ({ value: p.value, step: Number(p.step) })));
      pageToken = page.nextPageToken;
    } while (pageToken);
    return points.sort((a, b) => a.step - b.step);
  }

  /** Submits a reserved trial's job under its reserved id; a refusal fails the sweep (its other trials are cancelled). */
  private async submit(row: SweepRow, spec: SweepSpec, trial: Pick<TrialRow, "trial_index" | "job_id" | "params">): Promise<void> {
    const { store, jobs, clock } = this.deps;
    const index = Number(trial.trial_index);
    const params = JSON.parse(trial.params) as TrialParams;
    const jobSpec = trialJobSpec(spec.trial, { name: row.name, team: row.team_id, experiment: spec.experiment ?? row.name }, index, params);
    try {
      const principal = await this.principalOf(row);
      const job = await jobs.submit(jobSpec, principal, {
        jobId: trial.job_id,
        runTags: { "mlflow.parentRunId": row.parent_run_id ?? "", "paved.sweep_id": row.sweep_id, "paved.sweep.trial": String(index) },
        // Trials started together go to Slurm as one job array.
        arrayGroup: row.sweep_id,
      });
      // The run's params at once (the job's capture logs the same values later, best effort).
      if (job.runId) {
        await this.deps.runs
          .logParams(job.runId, Object.fromEntries(Object.entries(jobSpec.hyperparameters).map(([k, v]) => [k, String(v)])))
          .catch((error: unknown) => this.deps.logger.warn({ err: error, sweepId: row.sweep_id, runId: job.runId }, "logging a trial's params failed"));
      }
      await store.patchTrial(row.sweep_id, index, ["PENDING"], { phase: trialPhaseOf(job), run_id: job.runId, updated_at: clock.now() });
    } catch (error) {
      // Submitted before a restart (the job exists): the next pass adopts it.
      if (isPlatformError(error) && error.code === "CONFLICT") return;
      if (!isPlatformError(error)) throw error;
      const message = `trial ${index} could not be submitted: ${error.message}`;
      await store.patchTrial(row.sweep_id, index, ["PENDING"], { phase: "FAILED", message: error.message, updated_at: clock.now() });
      await store.transition(row.sweep_id, ["RUNNING"], "FAILING", { message }, { type: "Failing", message: `${message}; its other trials are cancelled`, time: clock.now() });
    }
  }

  /** Who the trials are submitted as: the sweep's creator as they are now (their teams today). */
  private async principalOf(row: SweepRow): Promise<Principal> {
    const stored = JSON.parse(row.principal) as Principal;
    if (!stored.userId || !this.deps.principalOf) return stored;
    const fresh = await this.deps.principalOf(stored.userId);
    if (!fresh) throw new PlatformError("FORBIDDEN", `the sweep's owner ${stored.name} is disabled; its trials cannot be submitted`);
    return { ...fresh, ...(stored.team ? { team: stored.team } : {}) };
  }

  /** The best trial so far (SUCCEEDED ones, else any that logged the metric), written when it changes. */
  private async recordBest(row: SweepRow, spec: SweepSpec, trials: TrialRow[]): Promise<{ trial: TrialRow; value: number } | undefined> {
    const best = bestTrial(trials, spec.objective.goal);
    if (best && (row.best_trial === null || Number(row.best_trial) !== Number(best.trial.trial_index) || row.best_value === null || Number(row.best_value) !== best.value)) {
      await this.deps.store.patch(row.sweep_id, ["RUNNING", ...ENDING], { best_trial: Number(best.trial.trial_index), best_value: best.value });
      await this.deps.store.appendEvent(row.sweep_id, { type: "BestTrial", message: `trial ${best.trial.trial_index} is the best so far: ${spec.objective.metric} ${best.value} (run ${best.trial.run_id})`, time: this.deps.clock.now() });
    }
    return best;
  }

  /** Ends the sweep: the parent run gets the best value and the best run's id, then the sweep its phase. */
  private async finish(row: SweepRow, spec: SweepSpec, outcome: "SUCCEEDED" | "FAILED" | "CANCELLED"): Promise<void> {
    const { runs, store, clock } = this.deps;
    const trials = await store.trials(row.sweep_id);
    const best = bestTrial(trials, spec.objective.goal);
    const now = clock.now();
    let phase: SweepPhase = outcome;
    let message = row.message;
    if (outcome === "SUCCEEDED" && !best) {
      phase = "FAILED";
      message = `no trial logged ${spec.objective.metric}; a trial logs it by printing \`paved.metric ${spec.objective.metric}=<value> step=<n>\` or with mlflow.log_metric`;
    }
    if (row.parent_run_id) {
      if (best) {
        await runs.logMetrics(row.parent_run_id, [{ key: spec.objective.metric, value: best.value, step: Number(best.trial.objective_step ?? 0), timestamp: now }]);
        await runs.setTags(row.parent_run_id, { "paved.sweep.best_trial": String(best.trial.trial_index), ...(best.trial.run_id ? { "paved.sweep.best_run_id": best.trial.run_id } : {}) });
      }
      await runs.finishRun(row.parent_run_id, phase === "SUCCEEDED" ? "FINISHED" : phase === "FAILED" ? "FAILED" : "KILLED", now);
    }
    const counts: Record<string, number> = {};
    for (const t of trials) counts[t.phase] = (counts[t.phase] ?? 0) + 1;
    const summary = Object.entries(counts).map(([p, n]) => `${n} ${p}`).join(", ");
    const bestText = best ? `best: trial ${best.trial.trial_index}, ${spec.objective.metric} ${best.value} (run ${best.trial.run_id})` : "no best trial";
    await store.transition(
      row.sweep_id,
      [row.phase as SweepPhase],
      phase,
      { finished_at: now, message, ...(best ? { best_trial: Number(best.trial.trial_index), best_value: best.value } : {}) },
      { type: phase === "SUCCEEDED" ? "Succeeded" : phase === "FAILED" ? "Failed" : "Cancelled", message: `${trials.length} trials (${summary}); ${bestText}${message && phase !== "SUCCEEDED" ? `; ${message}` : ""}`, time: now },
    );
  }
}

function trialPhaseOf(job: Job): TrialPhase {
  if (job.phase === "STARTING") return "RUNNING";
  return job.phase;
}

/** The metric's value a trial had at a rung: at the highest step not past the rung's resource. */
function valueAt(points: { value: number; step: number }[], resource: number): number | undefined {
  let value: number | undefined;
  for (const p of points) if (p.step <= resource) value = p.value;
  return value;
}

/** Each rung's recorded values, over every trial of the sweep. */
function rungValues(trials: TrialRow[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const t of trials) {
    for (const r of JSON.parse(t.rungs) as RungRecord[]) out.set(r.rung, [...(out.get(r.rung) ?? []), r.value]);
  }
  return out;
}

export function bestTrial(trials: TrialRow[], goal: "minimize" | "maximize"): { trial: TrialRow; value: number } | undefined {
  const scored = (phase?: string) => trials.filter((t) => t.objective !== null && Number.isFinite(Number(t.objective)) && (phase === undefined || t.phase === phase));
  const pool = scored("SUCCEEDED").length ? scored("SUCCEEDED") : [];
  let best: { trial: TrialRow; value: number } | undefined;
  for (const t of pool) {
    const value = Number(t.objective);
    if (!best || better(value, best.value, goal)) best = { trial: t, value };
  }
  return best;
}
