import { createHash } from "node:crypto";
import { isPlatformError, PlatformError, ReconcileLoop, type Clock, type IdGenerator, type Logger, type Principal } from "../../core/index.ts";
import type { PlannedStep } from "./dag.ts";
import { resolveReferences } from "./references.ts";
import type { RunPhase, StepPhase } from "./schema.ts";
import type { StepContext, StepKind, StepObservation, StepRegistry } from "./steps.ts";
import type { PipelineStore, RunRow, StepRow } from "./store.ts";

export interface PipelineControllerDeps {
  store: PipelineStore;
  kinds: StepRegistry;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The principal of a user by id, fresh (their teams now); unset: the one stored with the run. */
  principalOf?: (userId: string) => Promise<Principal | undefined>;
  intervalMs: number;
}

/** Largest JSON a step's outputs may take. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** Job submissions (and other starts) in flight at once within a pass. */
const LAUNCH_CONCURRENCY = 16;
const ENDED: StepPhase[] = ["succeeded", "cached", "failed", "skipped", "cancelled"];
const BROKEN: StepPhase[] = ["failed", "skipped", "cancelled"];

/**
 * Runs pipelines: starts each step instance once every step it depends on has succeeded (or was
 * cached), independent branches side by side; follows running ones through their kind; retries a
 * failed or timed-out step up to its `retries`; skips what depends on a step that failed; cancels
 * everything of a cancelled run. A step's start key is stored before it starts (a job is submitted
 * under it), so after a kill -9 the next pass adopts what was started and never re-runs a step
 * that had finished: all state is in the database.
 */
export class PipelineController {
  private readonly loop: ReconcileLoop;

  constructor(private readonly deps: PipelineControllerDeps) {
    this.loop = new ReconcileLoop(() => this.pass(), { intervalMs: deps.intervalMs, onError: (error) => deps.logger.error({ err: error }, "pipeline pass failed") });
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
    const runs = await this.deps.store.runs({ limit: 10_000, phases: ["RUNNING", "CANCELLING"] });
    for (const run of runs) {
      if (!this.loop.running) return;
      try {
        await this.reconcile(run);
      } catch (error) {
        this.deps.logger.warn({ err: error, pipelineRunId: run.run_id }, "reconciling a pipeline run failed; trying again next pass");
      }
    }
  }

  private async reconcile(run: RunRow): Promise<void> {
    const steps = await this.deps.store.steps(run.run_id);
    const r = new RunState(run, steps, await this.principalOf(run));
    if (run.phase === "CANCELLING") {
      await this.cancelAll(r);
      return;
    }
    // Steps that finish at once (echo, a cache hit) make others ready: go on while anything moves.
    let moved = true;
    try {
      while (moved && this.loop.running) {
        moved = false;
        for (const step of steps) {
          if (!this.loop.running) return;
          if (step.phase === "running") moved = (await this.follow(r, step)) || moved;
          else if (step.phase === "pending") moved = (await this.cascade(r, step)) || moved;
        }
        await this.flush(r);
        moved = (await this.launchAll(r)) || moved;
      }
    } finally {
      await this.flush(r);
    }
    if (steps.every((s) => ENDED.includes(s.phase as StepPhase))) await this.finish(r);
  }

  /** Follows a running step: (re)starts it when it has no handle yet, times it out, reads its state. */
  private async follow(r: RunState, step: StepRow): Promise<boolean> {
    if (step.handle === null) return this.launch(r, step);
    const plan = r.plan(step);
    const kind = this.kindOf(step);
    const now = this.deps.clock.now();
    if (step.deadline_at !== null && now > Number(step.deadline_at)) {
      await kind?.cancel?.(step.handle, r.context(step), `timed out after ${plan.timeoutSeconds}s`).catch((error: unknown) => this.deps.logger.warn({ err: error }, "cancelling a timed-out step failed"));
      return this.failAttempt(r, step, `timed out after ${plan.timeoutSeconds}s (attempt ${step.attempt})`, "TimedOut");
    }
    if (!kind) return this.failAttempt(r, step, `step kind '${step.kind}' is not registered on this server any more`);
    let seen: StepObservation;
    try {
      seen = await kind.observe(step.handle, r.context(step));
    } catch (error) {
      if (!isPlatformError(error)) throw error;
      seen = { state: "failed", message: error.message };
    }
    return this.record(r, step, seen);
  }

  private async record(r: RunState, step: StepRow, seen: StepObservation): Promise<boolean> {
    if (seen.state === "running") return false;
    if (seen.state === "failed") return this.failAttempt(r, step, seen.message);
    const outputs = JSON.stringify(seen.outputs);
    if (outputs.length > MAX_OUTPUT_BYTES) return this.failAttempt(r, step, `its outputs take ${outputs.length} bytes of JSON; at most ${MAX_OUTPUT_BYTES}`);
    return this.patch(r, step, { phase: "succeeded", outputs, finished_at: this.deps.clock.now(), message: null });
  }

  /**
   * Tries a pending step and, each time one ends at once (echo, a cache hit), the steps waiting on
   * it straight after: a step starts as soon as its last dependency ends, not when the pass reaches it.
   */
  private async cascade(r: RunState, first: StepRow): Promise<boolean> {
    const stack = [first];
    let moved = false;
    while (stack.length > 0) {
      const step = stack.pop()!;
      if (step.phase !== "pending" || !(await this.tryStart(r, step))) continue;
      moved = true;
      const now = step.phase as StepPhase;
      if (now === "succeeded" || now === "cached") for (const next of r.dependents(step.step_name)) if (next.phase === "pending") stack.push(next);
    }
    return moved;
  }

  /** A pending step whose dependencies all ended: skipped if one broke, else resolved, looked up in the cache, started. */
  private async tryStart(r: RunState, step: StepRow): Promise<boolean> {
    const plan = r.plan(step);
    let waiting = false;
    for (const dep of plan.dependsOn) {
      for (const d of r.instances(dep)) {
        if (BROKEN.includes(d.phase as StepPhase)) {
          return this.patch(r, step, { phase: "skipped", finished_at: this.deps.clock.now(), message: `skipped: step ${d.step_key} ${d.phase === "failed" ? "failed" : `was ${d.phase}`}` });
        }
        if (d.phase !== "succeeded" && d.phase !== "cached") waiting = true;
      }
    }
    if (waiting) return false;
    const kind = this.kindOf(step);
    if (!kind) return this.fail(r, step, `step kind '${step.kind}' is not registered on this server; known kinds: ${this.deps.kinds.names().join(", ")}`);
    let body: unknown;
    let cacheKey: string | null = null;
    try {
      const resolved = resolveReferences(plan.body, r.scope(step, plan), `step '${step.step_key}': ${step.kind}`);
      const parsed = kind.schema.safeParse(resolved);
      if (!parsed.success) {
        const text = parsed.error.issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ");
        return this.fail(r, step, `its ${step.kind} body, references resolved, is not valid: ${text}`);
      }
      body = parsed.data;
      // An instant step is never cached: running it costs less than looking it up.
      if (plan.cache && !kind.instant) cacheKey = digest({ kind: step.kind, body, code: (await kind.codeDigest?.(body, r.run.team_id)) ?? null });
    } catch (error) {
      if (!isPlatformError(error)) throw error;
      return this.fail(r, step, error.message);
    }
    const bodyText = JSON.stringify(body);
    const now = this.deps.clock.now();
    if (cacheKey) {
      const hit = await this.deps.store.cached(r.run.pipeline_id, cacheKey, r.run.run_id);
      if (hit) {
        const from = { run: hit.cached_from_run ?? hit.run_id, step: hit.cached_from_step ?? hit.step_key };
        const done = await this.patch(r, step, { phase: "cached", body: bodyText, cache_key: cacheKey, outputs: hit.outputs, cached_from_run: from.run, cached_from_step: from.step, started_at: now, finished_at: now, message: `cached: reused run ${from.run} step ${from.step}` });
        if (done) await this.deps.store.appendEvent(r.run.run_id, { type: "Cached", message: `step ${step.step_key}: same spec, inputs and code as run ${from.run} step ${from.step}; its outputs are reused`, time: now });
        return done;
      }
    }
    if (kind.instant) return this.runInstant(r, step, kind, { body: bodyText, cache_key: cacheKey, started_at: now });
    const started = await this.patch(r, step, {
      phase: "running",
      start_key: this.deps.ids.prefixed(kind.idPrefix ?? "step"),
      handle: null,
      body: bodyText,
      cache_key: cacheKey,
      started_at: now,
      deadline_at: plan.timeoutSeconds === undefined ? null : now + plan.timeoutSeconds * 1000,
    });
    if (!started) return false;
    // Started below, with the pass's other ready steps, a few at a time: a layer of 100 job steps
    // is not submitted one after another.
    r.launches.push(step);
    return true;
  }

  /** Launches the steps tryStart marked running, LAUNCH_CONCURRENCY at a time. */
  private async launchAll(r: RunState): Promise<boolean> {
    let moved = false;
    while (r.launches.length > 0 && this.loop.running) {
      const batch = r.launches.splice(0, LAUNCH_CONCURRENCY);
      const results = await Promise.all(batch.map((step) => this.launch(r, step)));
      moved = moved || results.some(Boolean);
    }
    return moved;
  }

  /**
   * An instant step (echo) runs here and its end is written with the pass's other instant steps in
   * one transaction (flush): the steps after it see it at once, in memory. A crash before the write
   * runs it again, which changes nothing.
   */
  private async runInstant(r: RunState, step: StepRow, kind: StepKind, patch: Pick<StepRow, "body" | "cache_key" | "started_at">): Promise<boolean> {
    let seen: StepObservation | undefined;
    try {
      seen = (await kind.start(JSON.parse(patch.body ?? "null"), r.context(step))).observation;
    } catch (error) {
      if (!isPlatformError(error)) throw error;
      seen = { state: "failed", message: error.message };
    }
    const now = this.deps.clock.now();
    const outputs = seen?.state === "succeeded" ? JSON.stringify(seen.outputs) : undefined;
    if (outputs === undefined || outputs.length > MAX_OUTPUT_BYTES) {
      await this.flush(r);
      const message = seen?.state === "failed" ? seen.message : outputs === undefined ? `its kind ${step.kind} did not finish at once` : `its outputs take ${outputs.length} bytes of JSON; at most ${MAX_OUTPUT_BYTES}`;
      return this.fail(r, step, message);
    }
    const change: Partial<StepRow> = { ...patch, phase: "succeeded", handle: kind.kind, outputs, finished_at: now, message: null, updated_at: now };
    r.deferred.push({ key: step.step_key, from: { phase: step.phase as StepPhase, attempt: step.attempt }, patch: change });
    Object.assign(step, change);
    return true;
  }

  /** Writes the pass's instant steps; one another change beat (a cancel) is read again next pass. */
  private async flush(r: RunState): Promise<void> {
    if (r.deferred.length === 0) return;
    const changes = r.deferred.splice(0);
    const applied = await this.deps.store.patchSteps(r.run.run_id, changes);
    if (applied.size !== changes.length) throw new Error("a step changed under this pass; reading the run again");
  }

  /** Starts a running step that has no handle yet (just started, retried, or started before a restart) under its start key. */
  private async launch(r: RunState, step: StepRow): Promise<boolean> {
    const kind = this.kindOf(step);
    if (!kind) return this.failAttempt(r, step, `step kind '${step.kind}' is not registered on this server`);
    let started: { handle: string; observation?: StepObservation };
    try {
      started = await kind.start(JSON.parse(step.body ?? "null"), r.context(step));
    } catch (error) {
      if (!isPlatformError(error)) throw error;
      return this.failAttempt(r, step, error.message);
    }
    const seen = started.observation;
    if (seen?.state === "succeeded") {
      const outputs = JSON.stringify(seen.outputs);
      if (outputs.length <= MAX_OUTPUT_BYTES) return this.patch(r, step, { handle: started.handle, phase: "succeeded", outputs, finished_at: this.deps.clock.now(), message: null });
    }
    await this.patch(r, step, { handle: started.handle });
    if (seen) return this.record(r, step, seen);
    return true;
  }

  /** An attempt failed: the step runs again (a new start key, a new deadline) while it has retries left, else it fails. */
  private async failAttempt(r: RunState, step: StepRow, message: string, type = "StepFailed"): Promise<boolean> {
    const plan = r.plan(step);
    const now = this.deps.clock.now();
    if (step.attempt <= plan.retries) {
      const kind = this.kindOf(step);
      await this.deps.store.appendEvent(r.run.run_id, { type: "Retrying", message: `step ${step.step_key}: attempt ${step.attempt} of ${plan.retries + 1} failed: ${message}; retrying`, time: now });
      const next = await this.patch(r, step, {
        attempt: step.attempt + 1,
        start_key: this.deps.ids.prefixed(kind?.idPrefix ?? "step"),
        handle: null,
        message: `attempt ${step.attempt} failed: ${message}`,
        deadline_at: plan.timeoutSeconds === undefined ? null : now + plan.timeoutSeconds * 1000,
      });
      return next ? this.launch(r, step) : false;
    }
    const attempts = step.attempt > 1 ? ` (after ${step.attempt} attempts)` : "";
    await this.deps.store.appendEvent(r.run.run_id, { type, message: `step ${step.step_key}${attempts}: ${message}`, time: now });
    return this.patch(r, step, { phase: "failed", finished_at: now, message: `${message}${attempts}` });
  }

  /** Fails a step without retrying: what it was given is wrong, and would be wrong again. */
  private async fail(r: RunState, step: StepRow, message: string): Promise<boolean> {
    const now = this.deps.clock.now();
    await this.deps.store.appendEvent(r.run.run_id, { type: "StepFailed", message: `step ${step.step_key}: ${message}`, time: now });
    return this.patch(r, step, { phase: "failed", finished_at: now, message });
  }

  /** Writes a step change if the step is as this pass read it, and keeps the in-memory row in step. */
  private async patch(r: RunState, step: StepRow, patch: Partial<StepRow>): Promise<boolean> {
    const now = this.deps.clock.now();
    const ok = await this.deps.store.patchStep(r.run.run_id, step.step_key, { phase: step.phase as StepPhase, attempt: step.attempt }, { ...patch, updated_at: now });
    if (ok) Object.assign(step, patch, { updated_at: now });
    return ok;
  }

  private async cancelAll(r: RunState): Promise<void> {
    const reason = r.run.message ?? "the run was cancelled";
    for (const step of r.steps) {
      if (step.phase === "running" && step.handle !== null) {
        // Cancelled first, then recorded: a restart in between cancels it again.
        await this.kindOf(step)?.cancel?.(step.handle, r.context(step), reason);
      }
      if (step.phase === "running" || step.phase === "pending") await this.patch(r, step, { phase: "cancelled", finished_at: this.deps.clock.now(), message: reason });
    }
    if (r.steps.every((s) => ENDED.includes(s.phase as StepPhase))) {
      const now = this.deps.clock.now();
      await this.deps.store.transitionRun(r.run.run_id, ["CANCELLING"], "CANCELLED", { finished_at: now }, { type: "Cancelled", message: `${summary(r.steps)}; ${reason}`, time: now });
    }
  }

  private async finish(r: RunState): Promise<void> {
    const failed = r.steps.filter((s) => s.phase === "failed");
    const phase: RunPhase = failed.length ? "FAILED" : "SUCCEEDED";
    const now = this.deps.clock.now();
    const message = failed.length ? `failed steps: ${failed.slice(0, 10).map((s) => `${s.step_key} (${s.message ?? "failed"})`).join("; ")}${failed.length > 10 ? ` and ${failed.length - 10} more` : ""}` : null;
    await this.deps.store.transitionRun(r.run.run_id, ["RUNNING"], phase, { finished_at: now, message }, { type: phase === "SUCCEEDED" ? "Succeeded" : "Failed", message: `${summary(r.steps)}${message ? `; ${message}` : ""}`, time: now });
  }

  private kindOf(step: StepRow): StepKind | undefined {
    return this.deps.kinds.has(step.kind) ? this.deps.kinds.get(step.kind) : undefined;
  }

  /** Who the steps act as: the run's starter as they are now (their teams today). */
  private async principalOf(run: RunRow): Promise<Principal> {
    const stored = JSON.parse(run.principal) as Principal;
    if (!stored.userId || !this.deps.principalOf) return stored;
    const fresh = await this.deps.principalOf(stored.userId);
    if (!fresh) throw new PlatformError("FORBIDDEN", `the run's owner ${stored.name} is disabled; its steps cannot start`);
    return { ...fresh, ...(stored.team ? { team: stored.team } : {}) };
  }
}

/** One pass's view of a run: its step rows (kept current as the pass changes them), parsed once. */
class RunState {
  private readonly plans = new Map<string, PlannedStep>();
  private readonly byName = new Map<string, StepRow[]>();
  private reverse: Map<string, StepRow[]> | undefined;
  /** Steps marked running this pass, to be launched together (launchAll). */
  readonly launches: StepRow[] = [];
  /** Instant steps' ends, written together by flush. */
  readonly deferred: { key: string; from: { phase: StepPhase; attempt: number }; patch: Partial<StepRow> }[] = [];
  readonly params: Record<string, unknown>;

  constructor(
    readonly run: RunRow,
    readonly steps: StepRow[],
    private readonly principal: Principal,
  ) {
    this.params = JSON.parse(run.params) as Record<string, unknown>;
    for (const s of steps) {
      const list = this.byName.get(s.step_name) ?? [];
      list.push(s);
      this.byName.set(s.step_name, list);
    }
  }

  plan(step: StepRow): PlannedStep {
    let plan = this.plans.get(step.step_name);
    if (!plan) {
      plan = JSON.parse(step.plan) as PlannedStep;
      this.plans.set(step.step_name, plan);
    }
    return plan;
  }

  instances(name: string): StepRow[] {
    return this.byName.get(name) ?? [];
  }

  /** The step instances that depend on step `name`. */
  dependents(name: string): StepRow[] {
    if (!this.reverse) {
      this.reverse = new Map();
      for (const s of this.steps) {
        for (const dep of this.plan(s).dependsOn) {
          const list = this.reverse.get(dep) ?? [];
          list.push(s);
          this.reverse.set(dep, list);
        }
      }
    }
    return this.reverse.get(name) ?? [];
  }

  scope(step: StepRow, plan: PlannedStep) {
    const outputs = new Map<string, Record<string, unknown> | Record<string, unknown>[]>();
    for (const dep of plan.dependsOn) {
      const rows = this.instances(dep);
      const parsed = rows.map((d) => JSON.parse(d.outputs ?? "{}") as Record<string, unknown>);
      outputs.set(dep, this.plan(rows[0]!).forEach ? parsed : parsed[0]!);
    }
    return { params: this.params, hasItem: step.item !== null, item: step.item === null ? undefined : (JSON.parse(step.item) as unknown), steps: outputs };
  }

  context(step: StepRow): StepContext {
    return { runId: this.run.run_id, pipeline: this.run.pipeline_name, team: this.run.team_id, principal: this.principal, stepKey: step.step_key, attempt: step.attempt, startKey: step.start_key ?? "" };
  }
}

function summary(steps: StepRow[]): string {
  const counts: Record<string, number> = {};
  for (const s of steps) counts[s.phase] = (counts[s.phase] ?? 0) + 1;
  return `${steps.length} steps (${Object.entries(counts).map(([p, n]) => `${n} ${p}`).join(", ")})`;
}

/** SHA-256 of a value's JSON with object keys sorted: the same value always gives the same key. */
export function digest(value: unknown): string {
  return createHash("sha256").update(canonical(value)).digest("hex");
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
