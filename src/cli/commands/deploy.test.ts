import { describe, expect, it } from "vitest";
import type { Deployment } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const deployment = (phase: Deployment["status"]["phase"] = "Progressing"): Deployment => ({
  id: "deploy-1",
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
    for (const action of ["pause", "resume", "promote", "rollback"]) {
      const result = await runForTest(["deployments", action, "deploy-1", "--json"], () => deployment("Paused"));
      expect(result.requests[0]).toMatchObject({ method: "POST", path: `/api/v1/deployments/deploy-1/${action}` });
      expect(JSON.parse(result.stdout).status.phase).toBe("Paused");
    }
  });
});
