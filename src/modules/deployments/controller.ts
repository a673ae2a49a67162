import { buffer } from "node:stream/consumers";
import { z } from "zod";
import type { Clock, Logger } from "../../core/index.ts";
import type { RegistryService } from "../registry/index.ts";
import { InferRequest, type ServingService } from "../serving/index.ts";
import { analyze, describeStats } from "./analysis.ts";
import type { DeploymentRouter, Split } from "./router.ts";
import type { DeploymentSpec, DeploymentStatus } from "./schema.ts";
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
  serving: ServingService;
  router: DeploymentRouter;
  clock: Clock;
  logger: Logger;
  /** How often every deployment is reconciled (default 500 ms); writes kick it sooner. */
  intervalMs?: number;
}

/**
 * Reconciles deployments toward their spec in small idempotent steps, saving once per step:
 * loads stable and canary into serving, runs the canary's integration tests, shifts traffic step
 * by step while comparing canary and stable, then promotes (alias moved, old version unloaded) or
 * rolls back. It decides from the database alone, so a restarted server resumes from the saved step.
 */
export class DeploymentController {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private running = false;
  /** Deployments this process has picked up (a restart picks each up again, with a fresh step window). */
  private readonly adopted = new Set<string>();

  constructor(private readonly deps: DeploymentControllerDeps) {}

  start(): void {
    this.running = true;
    this.timer = setInterval(() => this.kick(), this.deps.intervalMs ?? 500);
    this.kick();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await this.pass;
  }

  /** Runs a reconcile pass now (or right after the one in progress). */
  kick(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.reconcileAll()
      .catch((error: unknown) => this.deps.logger.warn({ reason: (error as Error).message }, "deployment reconcile pass failed"))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async reconcileAll(): Promise<void> {
    const rows = await this.deps.store.list();
    const newest = new Map<string, DeploymentRow>();
    for (const row of rows) if (!newest.has(row.model_name)) newest.set(row.model_name, row);
    for (const row of newest.values()) {
      if (!this.running) return;
      try {
        if (ACTIVE_PHASES.includes(row.phase)) await this.reconcile(row);
        else await this.keepServing(row);
      } catch (error) {
        this.deps.logger.warn({ deployment: row.id, reason: (error as Error).message }, "deployment reconcile failed; retrying");
      }
    }
  }

  /** A finished deployment's stable version stays loaded (again, after a restart) and gets the model's traffic. */
  private async keepServing(row: DeploymentRow): Promise<void> {
    const status = JSON.parse(row.status) as DeploymentStatus;
    this.deps.router.set(row.model_name, splitOf(row.id, status));
    if (status.stableVersion !== null) await this.ensureLoaded(row.model_name, status.stableVersion);
  }

  private async reconcile(row: DeploymentRow): Promise<void> {
    const spec = JSON.parse(row.spec) as DeploymentSpec;
    const status = JSON.parse(row.status) as DeploymentStatus;
    const name = spec.model;
    const now = this.deps.clock.now();
    const save = async (reason: string) => {
      status.history.push({ time: this.deps.clock.now(), reason });
      this.deps.router.set(name, splitOf(row.id, status));
      await this.deps.store.saveStatus(row.id, JSON.stringify(status), status.phase, this.deps.clock.now());
      this.deps.logger.info({ deployment: row.id, model: name, phase: status.phase, weight: status.canaryWeight }, reason);
    };

    if (row.requested === "rollback") {
      await this.rollback(row.id, name, status, save, "rolled back by request");
      await this.deps.store.clearRequest(row.id, "rollback");
      return;
    }
    this.deps.router.set(name, splitOf(row.id, status));
    if (status.stableVersion !== null) await this.ensureLoaded(name, status.stableVersion);
    if (status.canaryVersion !== null) {
      try {
        await this.ensureLoaded(name, status.canaryVersion);
      } catch (error) {
        await this.rollback(row.id, name, status, save, `could not load version ${status.canaryVersion}: ${(error as Error).message}`);
        return;
      }
    }
    if (row.requested === "promote") {
      await this.promote(row.id, spec, status, save, "promoted by request");
      await this.deps.store.clearRequest(row.id, "promote");
      return;
    }
    if (row.paused === 1) {
      if (status.phase !== "Paused") {
        status.phase = "Paused";
        await save(`paused at ${status.canaryWeight}% canary traffic`);
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
      await save(`${why} at step ${status.currentStep + 1}/${spec.steps.length} (${status.canaryWeight}% canary traffic)`);
      return;
    }
    if (!status.testsDone) {
      const failure = await this.integrationTests(name, spec.version);
      if (failure.failed) {
        await this.rollback(row.id, name, status, save, failure.reason);
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
      this.startStep(row.id, spec, status, 0, now);
      await save(`step 1/${spec.steps.length}: ${status.canaryWeight}% of traffic to version ${spec.version}`);
      return;
    }
    if (now - (status.stepStartedAt ?? now) < spec.stepIntervalSeconds * 1000) return;
    const window = this.deps.router.window(row.id);
    const canary = window.stats(spec.version);
    const stable = window.stats(status.stableVersion);
    const breach = analyze(canary, stable, spec.analysis);
    const figures = describeStats(canary, stable);
    if (breach) {
      await this.rollback(row.id, name, status, save, `analysis failed at step ${status.currentStep + 1} (${status.canaryWeight}%): ${breach}`);
      return;
    }
    if (status.currentStep >= spec.steps.length - 1) {
      await this.promote(row.id, spec, status, save, `analysis passed at ${status.canaryWeight}% (${figures}); promoted`);
      return;
    }
    const passed = status.canaryWeight;
    this.startStep(row.id, spec, status, status.currentStep + 1, now);
    await save(`analysis passed at ${passed}% (${figures}); step ${status.currentStep + 1}/${spec.steps.length}: ${status.canaryWeight}% of traffic to version ${spec.version}`);
  }

  private startStep(id: string, spec: DeploymentSpec, status: DeploymentStatus, step: number, now: number): void {
    status.currentStep = step;
    status.canaryWeight = spec.steps[step]!;
    status.stepStartedAt = now;
    this.deps.router.resetWindow(id);
  }

  /** Moves the environment's alias to the canary, sends it all traffic, unloads the old stable version. */
  private async promote(id: string, spec: DeploymentSpec, status: DeploymentStatus, save: (reason: string) => Promise<void>, reason: string): Promise<void> {
    try {
      await this.deps.registry.setAlias(spec.model, spec.environment, spec.version);
    } catch (error) {
      await this.rollback(id, spec.model, status, save, `promotion refused: ${(error as Error).message}`);
      return;
    }
    const old = status.stableVersion;
    status.stableVersion = spec.version;
    status.canaryVersion = null;
    status.canaryWeight = 0;
    status.phase = "Succeeded";
    // The router sends everything to the new version before the old one goes away.
    this.deps.router.set(spec.model, splitOf(id, status));
    if (old !== null && old !== spec.version && this.isLoaded(spec.model, old)) await this.deps.serving.unload(spec.model, old);
    this.deps.router.forgetWindow(id);
    await save(`${reason}; alias '${spec.environment}' now points at version ${spec.version}${old !== null && old !== spec.version ? `, version ${old} unloaded` : ""}`);
  }

  /** Sends all traffic back to stable and unloads the canary. */
  private async rollback(id: string, name: string, status: DeploymentStatus, save: (reason: string) => Promise<void>, reason: string): Promise<void> {
    status.canaryWeight = 0;
    status.phase = "RolledBack";
    this.deps.router.set(name, splitOf(id, status));
    const canary = status.canaryVersion;
    if (canary !== null && canary !== status.stableVersion && this.isLoaded(name, canary)) await this.deps.serving.unload(name, canary);
    this.deps.router.forgetWindow(id);
    await save(reason);
  }

  /** Runs the integration tests tagged on the version (else on the model) against the loaded canary. */
  private async integrationTests(name: string, version: string): Promise<{ failed: boolean; reason: string }> {
    const [model, modelVersion] = await Promise.all([this.deps.registry.getModel(name), this.deps.registry.getVersion(name, version)]);
    const tag = modelVersion.tags.find((t) => t.key === INTEGRATION_TESTS_TAG) ?? model.tags.find((t) => t.key === INTEGRATION_TESTS_TAG);
    if (!tag) return { failed: false, reason: `no integration tests (tag '${INTEGRATION_TESTS_TAG}' unset); skipped` };
    let tests: z.infer<typeof IntegrationTests>;
    try {
      tests = IntegrationTests.parse(JSON.parse(tag.value));
    } catch (error) {
      return { failed: true, reason: `tag '${INTEGRATION_TESTS_TAG}' is not a JSON list of {request, expected, tolerance?}: ${(error as Error).message.slice(0, 300)}` };
    }
    for (const [i, test] of tests.entries()) {
      try {
        const response = await this.deps.serving.infer(name, version, test.request);
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

  private isLoaded(name: string, version: string): boolean {
    return this.deps.serving.list().some((m) => m.name === name && m.version === version);
  }

  /** Loads a version's .onnx file from the registry into serving unless it is loaded. */
  private async ensureLoaded(name: string, version: string): Promise<void> {
    if (this.isLoaded(name, version)) return;
    const files = await this.deps.registry.files(name, version);
    const onnx = files.filter((f) => f.path.toLowerCase().endsWith(".onnx")).sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
    if (!onnx) throw new Error(`version ${version} of '${name}' holds no .onnx file`);
    const bytes = new Uint8Array(await buffer((await this.deps.registry.openFile(name, version, onnx.path)).stream));
    await this.deps.serving.load({ name, version, bytes });
  }
}

/** The traffic split a deployment's status asks for: stable plus canary while active, stable alone after. */
export function splitOf(deploymentId: string, status: DeploymentStatus): Split {
  const active = status.phase === "Progressing" || status.phase === "Paused";
  return { deploymentId, stable: status.stableVersion, canary: active ? status.canaryVersion : null, canaryWeight: active ? status.canaryWeight : 0 };
}
