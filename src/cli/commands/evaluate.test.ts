import { describe, expect, it } from "vitest";
import type { Evaluation } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const evaluation = (passed: boolean): Evaluation => ({
  id: "eval-1",
  model: "churn",
  version: "3",
  policyVersion: "abc123def456",
  dataPath: "/data/eval.csv",
  dataDigest: `sha256:${"0".repeat(64)}`,
  referencePath: "/data/train.csv",
  passed,
  checks: [
    {
      type: "quality",
      name: "quality:accuracy",
      passed,
      figures: { value: passed ? 0.91 : 0.4, production: null, productionVersion: null },
      thresholds: { min: 0.8, max: null, relativeToProduction: null },
      hint: passed ? null : "accuracy 0.4 is below the minimum 0.8. Retrain or tune the model",
    },
  ],
  user: "ada",
  startedAt: 1_000,
  finishedAt: 2_000,
});

describe("paved evaluate / evaluations", () => {
  it("evaluate posts the data, label and sensitive columns and renders the checks", async () => {
    const result = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv", "--label", "churned", "--sensitive", "gender"], () => evaluation(true));
    expect(result.code).toBe(0);
    expect(result.requests[0]).toMatchObject({
      method: "POST",
      path: "/api/v1/models/churn/versions/3/evaluations",
      body: { data: "/data/eval.csv", label: "churned", sensitive: ["gender"] },
    });
    expect(result.stdout).toContain("quality:accuracy");
    expect(result.stdout).toContain("value=0.91");
  });

  it("evaluate exits with the gate's code when a check fails and prints the fix", async () => {
    const result = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv"], () => evaluation(false));
    expect(result.code).toBe(9);
    expect(result.stdout).toContain("To fix:");
    expect((await runForTest(["evaluate", "churn", "--data", "/x.csv"])).code).not.toBe(0);
  });

  it("evaluations ls filters by model and show prints one", async () => {
    const ls = await runForTest(["evaluations", "ls", "--model", "churn"], () => ({ evaluations: [evaluation(false)] }));
    expect(ls.requests[0]).toMatchObject({ path: "/api/v1/evaluations", query: { model: "churn" } });
    expect(ls.stdout).toContain("failed");
    const show = await runForTest(["evaluations", "show", "eval-1", "--json"], () => evaluation(true));
    expect(show.requests[0]?.path).toBe("/api/v1/evaluations/eval-1");
    expect(JSON.parse(show.stdout).passed).toBe(true);
  });

  it("models alias --force sends the override with its reason", async () => {
    const result = await runForTest(["models", "alias", "churn", "production", "3", "--force", "--reason", "hotfix"], () => ({ name: "churn", alias: "production", version: "3" }));
    expect(result.requests[0]?.body).toEqual({ version: "3", force: true, reason: "hotfix" });
  });
});
