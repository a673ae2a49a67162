import { buffer } from "node:stream/consumers";
import { z } from "zod";
import { ReconcileLoop, addMoments, describeProblems, validate, emptyMoments, sequentialPValue, twoProportionTest, welchTest, type Clock, type Logger, type Moments } from "../../core/index.ts";
import type { RegisteredModel, RegistryService } from "../registry/index.ts";
import { InferRequest, ROUTE_KEY_HEADER, type ServingPlane } from "../serving/index.ts";
import { MIN_SAMPLES, analyze, describeStats, predictionShift } from "./analysis.ts";
import type { DeploymentRouter, Split } from "./router.ts";
import { BUILTIN_AB_METRICS, MAX_HISTORY, type AbTestSpec, type AbTestStatus, type AnalysisVerdict, type DeploymentEvent, type DeploymentSpec, type DeploymentStatus } from "./schema.ts";
import { ACTIVE_PHASES, type DeploymentRow, type DeploymentStore } from "./store.ts";

/** The model or version tag holding the integration tests a canary must pass before it gets traffic. */
export const INTEGRATION_TESTS_TAG = "paved.integration_tests";

const IntegrationTests = z.array(
  z.strictObject({
    request: InferRequest,
    /** Expected values per output name, flattened row-major. */
    expected: z.record(z.string(), z.array(z.number())),
    tolerance: z.number().min(0).default(1e-4),
  }),
);

export interface DeploymentControllerDeps {
  store: DeploymentStore;
  registry: RegistryService;
  serving: ServingPlane;
  router: DeploymentRouter;
  clock: Clock;
  logger: Logger;
  /** How often every deployment is reconciled (default 500 ms); writes kick it sooner. */
  intervalMs?: number;
  /** Largest .onnx file loaded from the registry (serving.maxModelBytes). */
  maxModelBytes?: number;
}

/**
 * Reconciles deployments toward their spec in small idempotent steps, saving once per step:
 * loads stable and canary into serving, runs the canary's integration tests, shifts traffic step
 * by step while comparing canary and stable, then promotes (alias moved, old version unloaded) or
 * rolls back. It decides from the database alone, so a restarted server resumes from the saved step.
 */
export class DeploymentController {
  private readonly loop: ReconcileLoop;
  /** Deployments this process has picked up (a restart picks each up again, with a fresh step window). */
  private readonly adopted = new Set<string>();

  constructor(private readonly deps: DeploymentControllerDeps) {
    this.loop = new ReconcileLoop(() => this.reconcileAll(), {
      intervalMs: deps.intervalMs ?? 500,
      onError: (error) => deps.logger.warn({ reason: error.message }, "deployment reconcile pass failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a reconcile pass now (or right after the one in progress). */
  kick(): void {
    this.loop.kick();
  }

  /** Reconciles the newest deployment of each (model, environment): each environment has its own split and loaded versions. */
  private async reconcileAll(): Promise<void> {
    for (const row of await this.deps.store.current()) {
      if (!this.loop.running) return;
      try {
        if (ACTIVE_PHASES.includes(row.phase)) await this.reconcile(row);
        else await this.keepServing(row);
      } catch (error) {
        this.deps.logger.warn({ deployment: row.id, reason: (error as Error).message }, "deployment reconcile failed; retrying");
      }
    }
  }

  /** A finished deployment's stable version stays loaded in its environment (again, after a restart) and gets that environment's traffic. */
  private async keepServing(row: DeploymentRow): Promise<void> {
    const spec = specOf(row);
    const status = JSON.parse(row.status) as DeploymentStatus;
    this.adopted.delete(row.id);
    this.deps.router.set(row.model_name, splitOf(row.id, spec, status));
    if (status.stableVersion !== null) await this.ensureLoaded(spec, status.stableVersion);
  }

  private async reconcile(row: DeploymentRow): Promise<void> {
    const spec = specOf(row);
    const status = JSON.parse(row.status) as DeploymentStatus;
    const name = spec.model;
    const now = this.deps.clock.now();
    /**
     * Saves the status, with the analysis verdict promote checks refreshed while the rollout is
     * active; with a reason, also as a line of the history (figures refreshed each interval are
     * saved without one). The history keeps its first line and the newest MAX_HISTORY - 1.
     */
    const save = async (reason?: string, override?: DeploymentEvent["override"]) => {
      if (ACTIVE_PHASES.includes(status.phase)) status.analysis = this.verdictNow(row.id, spec, status);
      if (reason !== undefined) status.history.push({ time: this.deps.clock.now(), reason, ...(override ? { override } : {}) });
      if (status.history.length > MAX_HISTORY) status.history.splice(1, status.history.length - MAX_HISTORY);
      this.deps.router.set(name, splitOf(row.id, spec, status));
      await this.deps.store.saveStatus(row.id, JSON.stringify(status), status.phase, this.deps.clock.now());
      if (reason !== undefined) this.deps.logger.info({ deployment: row.id, model: name, environment: spec.environment, phase: status.phase, weight: status.canaryWeight }, reason);
    };

    if (row.requested === "rollback") {
      await this.rollback(row.id, spec, status, save, "rolled back by request");
      await this.deps.store.clearRequest(row.id, "rollback");
      return;
    }
    this.deps.router.set(name, splitOf(row.id, spec, status));
    if (status.stableVersion !== null) await this.ensureLoaded(spec, status.stableVersion);
    if (status.canaryVersion !== null) {
      try {
        await this.ensureLoaded(spec, status.canaryVersion);
      } catch (error) {
        await this.rollback(row.id, spec, status, save, `could not load version ${status.canaryVersion}: ${(error as Error).message}`);
        return;
      }
    }
    if (row.requested === "promote") {
      // The API judged the verdict saved last; the window may have turned since (or the API ran on another replica).
      const verdict = this.verdictNow(row.id, spec, status);
      if (verdict.verdict === "failing") {
        await save(`promote refused: the analysis is failing (${verdict.reason}); promote anyway with \`paved deployments promote ${row.id} --force --reason "<why>"\` (recorded)`);
      } else {
        await this.promote(row.id, spec, status, save, "promoted by request");
      }
      await this.deps.store.clearRequest(row.id, "promote");
      return;
    }
    if (row.requested === "force-promote") {
      const [override] = await this.deps.store.overrides([row.id]);
      const forced = override
        ? `promoted by request, overriding a ${override.verdict} analysis (${override.verdict_reason}); forced by ${override.user_id}: "${override.reason}"`
        : "promoted by request (forced)";
      await this.promote(row.id, spec, status, save, forced, override ? { user: override.user_id, reason: override.reason, verdict: `${override.verdict}: ${override.verdict_reason}` } : undefined);
      await this.deps.store.clearRequest(row.id, "force-promote");
      return;
    }
    if (row.paused === 1) {
      if (status.phase !== "Paused") {
        status.phase = "Paused";
        await save(`paused (${trafficNow(spec, status)})`);
      }
      return;
    }
    const firstSight = !this.adopted.has(row.id);
    this.adopted.add(row.id);
    if (status.phase === "Paused" || (firstSight && status.currentStep >= 0)) {
      // A fresh step window: what was observed before the pause (or the restart) is not judged.
      const why = status.phase === "Paused" ? "resumed" : "picked up after a restart";
      status.phase = "Progressing";
      status.stepStartedAt = now;
      this.deps.router.resetWindow(row.id);
      if (status.shadow) status.shadow = { ...status.shadow, since: now };
      await save(`${why} (${trafficNow(spec, status)})`);
      return;
    }
    if (!status.testsDone) {
      const failure = await this.integrationTests(spec);
      if (failure.failed) {
        await this.rollback(row.id, spec, status, save, failure.reason);
        return;
      }
      status.testsDone = true;
      await save(failure.reason);
      return;
    }
    if (spec.strategy === "replace" || status.stableVersion === null) {
      const why = spec.strategy === "replace" ? "replace strategy" : "no stable version to compare with";
      await this.promote(row.id, spec, status, save, `switched all traffic to version ${spec.version} (${why})`);
      return;
    }
    if (status.currentStep < 0) {
      await this.begin(row.id, spec, status, save, now);
      return;
    }
    if (now - (status.stepStartedAt ?? now) < spec.stepIntervalSeconds * 1000) {
      // Between judgements, the verdict promote checks follows the window (saved when it changes, not on every pass).
      if (this.verdictNow(row.id, spec, status).verdict !== status.analysis?.verdict) await save();
      return;
    }
    if (spec.strategy === "ab") await this.abInterval(row.id, spec, status, save, now);
    else if (spec.strategy === "shadow") await this.shadowInterval(row.id, spec, status, save, now);
    else await this.canaryStep(row.id, spec, status, save, now);
  }

  /** Starts sending traffic to the new version, as its strategy says. */
  private async begin(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, now: number): Promise<void> {
    if (spec.strategy === "canary") {
      this.startStep(id, spec, status, 0, now);
      await save(`step 1/${spec.steps.length}: ${status.canaryWeight}% of traffic to version ${spec.version}`);
      return;
    }
    status.currentStep = 0;
    status.stepStartedAt = now;
    this.deps.router.resetWindow(id);
    if (spec.strategy === "ab") {
      const ab = spec.ab!;
      status.canaryWeight = ab.split;
      status.abTest = { versionA: status.stableVersion!, versionB: spec.version, a: emptyMoments(), b: emptyMoments(), result: null, updatedAt: now };
      await save(
        `A/B test started: ${ab.split}% of routing keys (header ${ROUTE_KEY_HEADER}) to version ${spec.version} (B), the rest to version ${status.stableVersion} (A); comparing ${ab.metric} (${ab.kind === "binary" ? "two-proportion z-test" : "Welch t-test"}, alpha ${ab.alpha}, at least ${ab.minSamples} outcomes each)`,
      );
      return;
    }
    status.canaryWeight = 0;
    status.shadow = { since: now, requests: 0, errors: 0, errorRate: 0, p99Ms: null, stableP99Ms: null, predictionPsi: null, meanAbsoluteDifference: null, verdict: "no copies yet", updatedAt: now };
    await save(`shadowing: version ${spec.version} gets a copy of every request to version ${status.stableVersion}; its answers are logged and compared, never returned`);
  }

  /** Judges one canary step: roll back, promote after the last step, or go to the next. */
  private async canaryStep(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, now: number): Promise<void> {
    const window = this.deps.router.window(id);
    const canary = window.stats(spec.version);
    const stable = window.stats(status.stableVersion!);
    const breach = analyze(canary, stable, spec.analysis);
    const figures = describeStats(canary, stable);
    if (breach) {
      await this.rollback(id, spec, status, save, `analysis failed at step ${status.currentStep + 1} (${status.canaryWeight}%): ${breach}`);
      return;
    }
    if (status.currentStep >= spec.steps.length - 1) {
      await this.promote(id, spec, status, save, `analysis passed at ${status.canaryWeight}% (${figures}); promoted`);
      return;
    }
    const passed = status.canaryWeight;
    this.startStep(id, spec, status, status.currentStep + 1, now);
    await save(`analysis passed at ${passed}% (${figures}); step ${status.currentStep + 1}/${spec.steps.length}: ${status.canaryWeight}% of traffic to version ${spec.version}`);
  }

  /**
   * Refreshes the A/B test: adds the interval's outcomes, re-runs the significance test, and
   * (with autoConclude) promotes a significantly better B or rolls back a worse one. B is also
   * rolled back, like a canary, when its error rate or p99 latency breaches the analysis thresholds.
   */
  private async abInterval(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, now: number): Promise<void> {
    const ab = spec.ab!;
    const test = status.abTest!;
    const window = this.deps.router.window(id);
    const health = analyze(window.stats(spec.version), window.stats(test.versionA), { ...spec.analysis, maxPredictionPsi: null });
    if (health) {
      await this.rollback(id, spec, status, save, `A/B test stopped, version ${spec.version} rolled back: ${health}`);
      return;
    }
    this.deps.router.resetWindow(id);
    if (ab.metric in BUILTIN_AB_METRICS) {
      const tally = this.deps.router.drainTally(id);
      addMoments(test.a, tally.get(test.versionA) ?? emptyMoments());
      addMoments(test.b, tally.get(test.versionB) ?? emptyMoments());
    } else {
      const reported = await this.deps.store.outcomeMoments(id);
      test.a = reported.get(test.versionA) ?? emptyMoments();
      test.b = reported.get(test.versionB) ?? emptyMoments();
    }
    const before = test.result?.winner ?? null;
    test.result = abResult(ab, test.a, test.b, test.result);
    test.updatedAt = now;
    status.stepStartedAt = now;
    const winner = test.result?.winner ?? null;
    const summary = test.result ? describeAb(ab, test) : "";
    if (ab.autoConclude && winner === "B") await this.promote(id, spec, status, save, `A/B test: version ${test.versionB} (B) is better (${summary}); promoted`);
    else if (ab.autoConclude && winner === "A") await this.rollback(id, spec, status, save, `A/B test: version ${test.versionB} (B) is worse (${summary}); rolled back`);
    else if (winner !== before) await save(winner === null ? `A/B test no longer significant (${summary})` : `A/B test: ${winner} is better (${summary}); promote or roll back to conclude`);
    else await save();
  }

  /** Refreshes the shadow's figures (since it started, or since this server picked it up). */
  private async shadowInterval(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, now: number): Promise<void> {
    const window = this.deps.router.window(id);
    const shadow = window.stats(spec.version);
    const stable = window.stats(status.stableVersion!);
    const breach = analyze(shadow, stable, spec.analysis);
    status.shadow = {
      since: status.shadow?.since ?? now,
      requests: shadow.requests,
      errors: shadow.errors,
      errorRate: shadow.errorRate,
      p99Ms: shadow.p99 === null ? null : shadow.p99 * 1000,
      stableP99Ms: stable.p99 === null ? null : stable.p99 * 1000,
      predictionPsi: predictionShift(shadow, stable),
      meanAbsoluteDifference: shadow.meanDivergence,
      verdict: shadow.requests === 0 ? "no copies yet" : breach ? `would fail canary analysis: ${breach}` : "would pass canary analysis",
      updatedAt: now,
    };
    status.stepStartedAt = now;
    await save();
  }

  private startStep(id: string, spec: DeploymentSpec, status: DeploymentStatus, step: number, now: number): void {
    status.currentStep = step;
    status.canaryWeight = spec.steps[step]!;
    status.stepStartedAt = now;
    this.deps.router.resetWindow(id);
  }

  /**
   * What promote would be judged on now: failing when the current window breaches the analysis
   * thresholds (or an A/B test found B worse); passing once a canary step passed, enough requests
   * (MIN_SAMPLES) were analysed without a breach, or an A/B test found B better; missing before that.
   */
  private verdictNow(id: string, spec: DeploymentSpec, status: DeploymentStatus): AnalysisVerdict {
    const now = this.deps.clock.now();
    const verdict = (v: AnalysisVerdict["verdict"], reason: string): AnalysisVerdict => ({ verdict: v, reason, updatedAt: now });
    if (!status.testsDone) return verdict("missing", "the integration tests have not run yet");
    if (spec.strategy === "replace" || status.stableVersion === null) return verdict("passing", "integration tests done; there is no stable version to compare with");
    if (status.currentStep < 0) return verdict("missing", "no traffic has reached the new version yet");
    const window = this.deps.router.window(id);
    const fresh = window.stats(spec.version);
    const stable = window.stats(status.stableVersion);
    if (spec.strategy === "ab") {
      const health = analyze(fresh, stable, { ...spec.analysis, maxPredictionPsi: null });
      if (health) return verdict("failing", `version ${spec.version} (B) breaches the analysis: ${health}`);
      const test = status.abTest;
      const result = test?.result;
      if (!test || !result) return verdict("missing", "the A/B test has fewer than 2 outcomes per variant");
      if (result.winner === "B") return verdict("passing", `the A/B test found B better (${describeAb(spec.ab!, test)})`);
      if (result.winner === "A") return verdict("failing", `the A/B test found B worse (${describeAb(spec.ab!, test)})`);
      return verdict("missing", `the A/B test has no winner yet (${describeAb(spec.ab!, test)})`);
    }
    const breach = analyze(fresh, stable, spec.analysis);
    if (breach) return verdict("failing", spec.strategy === "shadow" ? `would fail canary analysis: ${breach}` : `step ${status.currentStep + 1} (${status.canaryWeight}%): ${breach}`);
    if (spec.strategy === "canary" && status.currentStep > 0) return verdict("passing", `${status.currentStep} of ${spec.steps.length} steps passed their analysis; step ${status.currentStep + 1} so far: ${describeStats(fresh, stable)}`);
    if (fresh.requests >= MIN_SAMPLES) return verdict("passing", `no breach over ${describeStats(fresh, stable)}`);
    const what = spec.strategy === "shadow" ? "shadow copies" : "canary requests";
    return verdict("missing", `${fresh.requests} of the ${MIN_SAMPLES} ${what} analysis needs`);
  }

  /** Moves the environment's alias to the canary, sends it all traffic, unloads the old stable version (from this environment only). */
  private async promote(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, reason: string, override?: DeploymentEvent["override"]): Promise<void> {
    try {
      await this.ownModel(spec);
      await this.deps.registry.setAlias(spec.model, spec.environment, spec.version);
    } catch (error) {
      await this.rollback(id, spec, status, save, `promotion refused: ${(error as Error).message}`);
      return;
    }
    const old = status.stableVersion;
    status.stableVersion = spec.version;
    status.canaryVersion = null;
    status.canaryWeight = 0;
    status.phase = "Succeeded";
    // The router sends everything to the new version before the old one goes away.
    this.deps.router.set(spec.model, splitOf(id, spec, status));
    if (old !== null && old !== spec.version && this.deps.serving.isLoaded(spec.model, old, spec.environment)) await this.deps.serving.unload(spec.model, old, spec.environment);
    this.deps.router.forgetWindow(id);
    await save(`${reason}; alias '${spec.environment}' now points at version ${spec.version}${old !== null && old !== spec.version ? `, version ${old} unloaded from ${spec.environment}` : ""}`, override);
  }

  /** Sends all traffic back to stable and unloads the canary. */
  private async rollback(id: string, spec: OwnedSpec, status: DeploymentStatus, save: Save, reason: string): Promise<void> {
    const name = spec.model;
    status.canaryWeight = 0;
    status.phase = "RolledBack";
    this.deps.router.set(name, splitOf(id, spec, status));
    const canary = status.canaryVersion;
    if (canary !== null && canary !== status.stableVersion && this.deps.serving.isLoaded(name, canary, spec.environment)) await this.deps.serving.unload(name, canary, spec.environment);
    this.deps.router.forgetWindow(id);
    await save(reason);
  }

  /**
   * The deployment's model, still of the deployment's team. A model deleted and registered again
   * under the same name by another team is not this deployment's: nothing of it is loaded, tested
   * or aliased.
   */
  private async ownModel(spec: OwnedSpec): Promise<RegisteredModel> {
    const model = await this.deps.registry.getModel(spec.model);
    if (model.team_id !== spec.team) throw new Error(`registered model '${spec.model}' now belongs to another team; this deployment serves only its own team's model (roll it back)`);
    return model;
  }

  /** Runs the integration tests tagged on the version (else on the model) against the canary loaded in the environment. */
  private async integrationTests(spec: OwnedSpec): Promise<{ failed: boolean; reason: string }> {
    const { model: name, environment, version } = spec;
    const [model, modelVersion] = await Promise.all([this.ownModel(spec), this.deps.registry.getVersion(name, version)]);
    const tag = modelVersion.tags.find((t) => t.key === INTEGRATION_TESTS_TAG) ?? model.tags.find((t) => t.key === INTEGRATION_TESTS_TAG);
    if (!tag) return { failed: false, reason: `no integration tests (tag '${INTEGRATION_TESTS_TAG}' unset); skipped` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(tag.value);
    } catch {
      return { failed: true, reason: `tag '${INTEGRATION_TESTS_TAG}' is not JSON; set it to a JSON list of {request, expected, tolerance?}` };
    }
    const checked = validate(IntegrationTests, parsed);
    if (!checked.success) {
      return { failed: true, reason: `tag '${INTEGRATION_TESTS_TAG}' is not a list of {request, expected, tolerance?}: ${describeProblems(checked.problems).slice(0, 500)}` };
    }
    const tests = checked.data;
    for (const [i, test] of tests.entries()) {
      try {
        const response = await this.deps.serving.infer(name, version, test.request, undefined, environment);
        for (const [output, expected] of Object.entries(test.expected)) {
          const got = response.outputs.find((o) => o.name === output)?.data.map(Number);
          if (!got) return { failed: true, reason: `integration test ${i + 1} failed: the response has no output '${output}'` };
          const bad = got.length !== expected.length ? 0 : expected.findIndex((e, j) => !(Math.abs(got[j]! - e) <= test.tolerance));
          if (got.length !== expected.length || bad >= 0) {
            return { failed: true, reason: `integration test ${i + 1} failed: output '${output}' ${got.length !== expected.length ? `has ${got.length} values, expected ${expected.length}` : `value ${bad} is ${got[bad]}, expected ${expected[bad]} ± ${test.tolerance}`}` };
          }
        }
      } catch (error) {
        return { failed: true, reason: `integration test ${i + 1} failed: ${(error as Error).message}` };
      }
    }
    return { failed: false, reason: `${tests.length} integration test(s) passed` };
  }

  /** Loads a version's .onnx file from the registry into serving, in the deployment's environment with its replicas, unless it is loaded there. */
  private async ensureLoaded(spec: OwnedSpec, version: string): Promise<void> {
    const name = spec.model;
    const environment = spec.environment;
    if (this.deps.serving.isLoaded(name, version, environment)) return;
    await this.ownModel(spec);
    const files = await this.deps.registry.files(name, version);
    const onnx = files.filter((f) => f.path.toLowerCase().endsWith(".onnx")).sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
    if (!onnx) throw new Error(`version ${version} of '${name}' holds no .onnx file`);
    const limit = this.deps.maxModelBytes;
    if (limit !== undefined && onnx.size > limit) throw new Error(`version ${version} of '${name}' has a ${onnx.size}-byte model, above serving.maxModelBytes (${limit}); an admin may raise it`);
    const bytes = new Uint8Array(await buffer((await this.deps.registry.openFile(name, version, onnx.path)).stream));
    const scale = spec.scale;
    await this.deps.serving.load({ name, version, environment, team: spec.team, bytes, ...(scale ? { replicas: scale.replicas, maxReplicas: scale.maxReplicas, ...(scale.targetP95Ms !== null ? { targetP95Ms: scale.targetP95Ms } : {}) } : {}) });
  }
}

type Save = (reason?: string, override?: DeploymentEvent["override"]) => Promise<void>;

/** A deployment's spec with the team that owns it (its model's, copied at creation). */
type OwnedSpec = DeploymentSpec & { team: string };

function specOf(row: DeploymentRow): OwnedSpec {
  return { ...(JSON.parse(row.spec) as DeploymentSpec), team: row.team_id };
}

/** Where a rollout stands, for the history: the canary's step, the A/B split, or the shadow. */
function trafficNow(spec: DeploymentSpec, status: DeploymentStatus): string {
  if (spec.strategy === "ab") return `A/B test, ${status.canaryWeight}% of routing keys to version ${spec.version}`;
  if (spec.strategy === "shadow") return `version ${spec.version} shadowing version ${status.stableVersion}`;
  if (status.currentStep < 0) return "before the first step";
  return `step ${status.currentStep + 1}/${spec.steps.length}, ${status.canaryWeight}% canary traffic`;
}

/** The significance test on the outcomes so far; null until each variant has 2. */
/**
 * The test on the outcomes so far; null until each variant has 2. The decision uses the
 * always-valid (sequential) p-value, kept as a running minimum across looks, so re-testing every
 * interval does not inflate false positives; its mixture is tuned to the standard error expected
 * at minSamples per variant.
 */
function abResult(ab: AbTestSpec, a: Moments, b: Moments, previous: AbTestStatus["result"]): AbTestStatus["result"] {
  if (a.n < 2 || b.n < 2) return null;
  const test = ab.kind === "binary" ? twoProportionTest(a, b, ab.alpha) : welchTest(a, b, ab.alpha);
  const harmonicN = 2 / (1 / a.n + 1 / b.n);
  const tau2 = (test.standardError * test.standardError * harmonicN) / ab.minSamples;
  const sequential = Math.min(previous?.sequentialPValue ?? 1, sequentialPValue(test.difference, test.standardError, tau2));
  const significant = sequential < ab.alpha;
  const decided = significant && a.n >= ab.minSamples && b.n >= ab.minSamples && test.difference !== 0;
  return { ...test, sequentialPValue: sequential, significant, winner: decided ? ((test.difference > 0) === ab.higherIsBetter ? "B" : "A") : null };
}

function describeAb(ab: AbTestSpec, test: AbTestStatus): string {
  const r = test.result!;
  const f = (x: number) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(3));
  return `${ab.metric}: A ${f(r.meanA)} over ${test.a.n}, B ${f(r.meanB)} over ${test.b.n}, difference ${f(r.difference)} [${f(r.ciLow)}, ${f(r.ciHigh)}], always-valid p=${(r.sequentialPValue ?? r.pValue).toPrecision(3)} (fixed-horizon p=${r.pValue.toPrecision(3)})`;
}

/** The traffic split a deployment asks for: stable plus canary (or shadow) while active, stable alone after. */
export function splitOf(deploymentId: string, spec: DeploymentSpec, status: DeploymentStatus): Split {
  const active = status.phase === "Progressing" || status.phase === "Paused";
  const mode = spec.strategy === "ab" ? "sticky" : spec.strategy === "shadow" ? "shadow" : "weighted";
  const metric = spec.ab?.metric;
  return {
    deploymentId,
    environment: spec.environment,
    mode,
    stable: status.stableVersion,
    canary: active ? status.canaryVersion : null,
    canaryWeight: active ? status.canaryWeight : 0,
    abMetric: active && (metric === "error_rate" || metric === "latency_ms") ? metric : undefined,
  };
}
