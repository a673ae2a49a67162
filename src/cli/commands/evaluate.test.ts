import { describe, expect, it } from "vitest";
import type { Evaluation } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const evaluation = (passed: boolean, phase: Evaluation["phase"] = passed ? "Passed" : "Failed"): Evaluation => ({
  id: "eval-1",
  model: "churn",
  version: "3",
  phase,
  message: phase === "Error" ? "evaluation data '/data/eval.csv' line 7: a quoted field is never closed" : null,
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
  createdAt: 500,
  startedAt: 1_000,
  finishedAt: 2_000,
});
const pending = (): Evaluation => ({ ...evaluation(false, "Pending"), checks: [], dataDigest: null, startedAt: null, finishedAt: null });

describe("paved evaluate / evaluations", () => {
  it("evaluate posts the data, label and sensitive columns, waits for the runner and renders the checks", async () => {
    const answers = [pending(), { ...pending(), phase: "Running" }, evaluation(true)];
    const result = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv", "--label", "churned", "--sensitive", "gender"], () => answers.shift());
    expect(result.code).toBe(0);
    expect(result.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/v1/models/churn/versions/3/evaluations", "GET /api/v1/evaluations/eval-1", "GET /api/v1/evaluations/eval-1"]);
    expect(result.stderr).toContain("evaluation eval-1 pending");
    expect(result.stderr).toContain("evaluation eval-1 running");
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

  it("evaluate --no-wait returns the accepted evaluation; an evaluation that could not run exits non-zero with its reason", async () => {
    const accepted = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv", "--no-wait"], () => pending());
    expect(accepted.code).toBe(0);
    expect(accepted.requests).toHaveLength(1);
    expect(accepted.stdout).toContain("eval-1");
    expect(accepted.stdout).toContain("Pending");
    const json = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv", "--no-wait", "--json"], () => pending());
    expect(JSON.parse(json.stdout).phase).toBe("Pending");
    const answers = [pending(), { ...evaluation(false, "Error"), checks: [] }];
    const error = await runForTest(["evaluate", "churn@3", "--data", "/data/eval.csv"], () => answers.shift());
    expect(error.code).toBe(2);
    expect(error.stderr).toContain("line 7");
  });

  it("evaluations show prints the phase of an unfinished evaluation", async () => {
    const show = await runForTest(["evaluations", "show", "eval-1"], () => ({ ...pending(), phase: "Running", startedAt: 1_000 }));
    expect(show.stdout).toMatch(/Phase:\s+Running/);
    expect(show.stdout).toContain("checks appear when it finishes");
  });

  it("evaluations ls filters by model and show prints one", async () => {
    const ls = await runForTest(["evaluations", "ls", "--model", "churn"], () => ({ evaluations: [evaluation(false)] }));
    expect(ls.requests[0]).toMatchObject({ path: "/api/v1/evaluations", query: { model: "churn" } });
    expect(ls.stdout).toContain("Failed");
    const show = await runForTest(["evaluations", "show", "eval-1", "--json"], () => evaluation(true));
    expect(show.requests[0]?.path).toBe("/api/v1/evaluations/eval-1");
    expect(JSON.parse(show.stdout).passed).toBe(true);
  });

  it("models alias --force sends the override with its reason", async () => {
    const result = await runForTest(["models", "alias", "churn", "production", "3", "--force", "--reason", "hotfix"], () => ({ name: "churn", alias: "production", version: "3" }));
    expect(result.requests[0]?.body).toEqual({ version: "3", force: true, reason: "hotfix" });
  });
});
