import { describe, expect, it } from "vitest";
import type { Deployment } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const deployment = (phase: Deployment["status"]["phase"] = "Progressing"): Deployment => ({
  id: "deploy-1",
  team: "default",
  spec: { model: "churn", version: "3", environment: "production", strategy: "canary", steps: [10, 50, 100], stepIntervalSeconds: 30, analysis: { maxErrorRateIncrease: 0.05, maxLatencyRatio: 2 } },
  status: {
    phase,
    stableVersion: "2",
    canaryVersion: "3",
    canaryWeight: 10,
    currentStep: 0,
    stepStartedAt: 1_000,
    testsDone: true,
    history: [{ time: 1_000, reason: "step 1/3: 10% of traffic to version 3" }],
  },
  endpoint: "/v2/models/churn",
  overrides: [],
  paused: false,
  requested: null,
  createdBy: "ada",
  createdAt: 500,
  updatedAt: 1_000,
});

describe("paved deploy / deployments", () => {
  it("deploy posts the version, environment, strategy, steps and interval", async () => {
    const result = await runForTest(["deploy", "churn@3", "--env", "staging", "--strategy", "canary", "--steps", "20,100", "--interval", "2m"], () => deployment());
    expect(result.code).toBe(0);
    expect(result.requests[0]).toMatchObject({
      method: "POST",
      path: "/api/v1/deployments",
      body: { model: "churn", version: "3", environment: "staging", strategy: "canary", steps: [20, 100], stepIntervalSeconds: 120 },
    });
    expect(result.stdout).toContain("paved deployments status deploy-1");
    const byAlias = await runForTest(["deploy", "churn@challenger", "--json"], () => deployment());
    expect(byAlias.requests[0]?.body).toEqual({ model: "churn", alias: "challenger", environment: "production", strategy: "canary" });
    expect(JSON.parse(byAlias.stdout).id).toBe("deploy-1");
    const ab = await runForTest(["deploy", "churn@4", "--strategy", "ab", "--split", "20", "--metric", "converted", "--kind", "binary", "--min-samples", "500", "--auto-conclude", "--max-replicas", "3"], () => deployment());
    expect(ab.requests[0]?.body).toMatchObject({ strategy: "ab", ab: { split: 20, metric: "converted", kind: "binary", minSamples: 500, autoConclude: true }, maxReplicas: 3 });
    const shadow = await runForTest(["deploy", "churn@5", "--strategy", "shadow", "--max-psi", "off"], () => deployment());
    expect(shadow.requests[0]?.body).toMatchObject({ strategy: "shadow", analysis: { maxPredictionPsi: null } });
    // The answer names the monitor made for the version; --no-monitor asks for none.
    const watched = await runForTest(["deploy", "churn@3"], () => ({ ...deployment(), monitor: { id: "mon-1", created: true, note: "monitor mon-1 watches version 3 of 'churn' in production" } }));
    expect(watched.stdout).toContain("monitor mon-1 watches version 3");
    const unwatched = await runForTest(["deploy", "churn@3", "--no-monitor"], () => deployment());
    expect(unwatched.requests[0]?.body).toMatchObject({ monitor: false });
    expect((await runForTest(["deploy", "churn@4", "--split", "20"])).code).not.toBe(0);
    expect((await runForTest(["deploy", "churn@4", "--strategy", "blue-green"])).code).not.toBe(0);
    expect((await runForTest(["deploy", "churn", "--interval", "30s"])).code).not.toBe(0);
    expect((await runForTest(["deploy", "churn@3", "--interval", "soon"])).code).not.toBe(0);
  });

  it("deployments ls, status and the actions", async () => {
    const ls = await runForTest(["deployments", "ls", "--model", "churn"], () => ({ deployments: [deployment()] }));
    expect(ls.requests[0]).toMatchObject({ path: "/api/v1/deployments", query: { model: "churn" } });
    expect(ls.stdout).toContain("Progressing");
    const status = await runForTest(["deployments", "status", "deploy-1"], () => deployment());
    expect(status.requests[0]?.path).toBe("/api/v1/deployments/deploy-1");
    expect(status.stdout).toContain("10% of traffic to version 3");
    const abView = deployment();
    abView.spec = { ...abView.spec, strategy: "ab", ab: { split: 50, metric: "converted", kind: "binary", higherIsBetter: true, alpha: 0.05, minSamples: 100, autoConclude: false } };
    abView.status.abTest = {
      versionA: "2",
      versionB: "3",
      a: { n: 1000, sum: 100, sumSq: 100 },
      b: { n: 1000, sum: 130, sumSq: 130 },
      result: { test: "two-proportion z-test", meanA: 0.1, meanB: 0.13, difference: 0.03, ciLow: 0.002, ciHigh: 0.058, standardError: 0.0142, pValue: 0.0355, sequentialPValue: 0.041, significant: true, winner: "B" },
      updatedAt: 1_000,
    };
    const abStatus = await runForTest(["deployments", "status", "deploy-1"], () => abView);
    expect(abStatus.stdout).toMatch(/two-proportion z-test: B - A = 0.0300 .*always-valid p = 0.0410 \(fixed-horizon 0.0355\), B is better/);
    for (const action of ["pause", "resume", "promote", "rollback"]) {
      const result = await runForTest(["deployments", action, "deploy-1", "--json"], () => deployment("Paused"));
      expect(result.requests[0]).toMatchObject({ method: "POST", path: `/api/v1/deployments/deploy-1/${action}` });
      expect(JSON.parse(result.stdout).status.phase).toBe("Paused");
    }
  });

  it("promote --force --reason sends the override, and refuses either flag without the other", async () => {
    const forced = await runForTest(["deployments", "promote", "deploy-1", "--force", "--reason", "hotfix for INC-123"], () => deployment());
    expect(forced.code).toBe(0);
    expect(forced.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/deployments/deploy-1/promote", body: { force: true, reason: "hotfix for INC-123" } });
    expect((await runForTest(["deployments", "promote", "deploy-1", "--force"])).code).not.toBe(0);
    expect((await runForTest(["deployments", "promote", "deploy-1", "--reason", "why"])).code).not.toBe(0);
    const view = deployment();
    view.status.analysis = { verdict: "failing", reason: "would fail canary analysis: canary error rate 100.0%", updatedAt: 1_000 };
    view.overrides = [{ id: "override-1", version: "3", environment: "production", action: "promote", verdict: "failing", verdictReason: "canary error rate 100.0%", user: "ada", reason: "hotfix", createdAt: 1_000 }];
    const status = await runForTest(["deployments", "status", "deploy-1"], () => view);
    expect(status.stdout).toContain("failing: would fail canary analysis");
    expect(status.stdout).toContain('promote forced by ada');
    expect(status.stdout).toContain("/v2/models/churn/infer");
  });
});
