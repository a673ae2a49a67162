import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Evaluation } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const DATA = "runs:/r1/outputs/eval.csv";
const evaluation = (passed: boolean, phase: Evaluation["phase"] = passed ? "Passed" : "Failed"): Evaluation => ({
  id: "eval-1",
  model: "churn",
  team: "default",
  version: "3",
  phase,
  message: phase === "Error" ? `evaluation data '${DATA}' line 7: a quoted field is never closed` : null,
  policyVersion: "abc123def456",
  dataPath: DATA,
  dataDigest: `sha256:${"0".repeat(64)}`,
  referencePath: "runs:/r1/data/train.csv",
  referenceOrigin: "lineage dataset 'train' of run r1",
  referenceNote: null,
  features: { matchedBy: "name", from: "the header of the reference data 'runs:/r1/data/train.csv'", names: ["tenure", "spend"] },
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
    const result = await runForTest(["evaluate", "churn@3", "--data", DATA, "--label", "churned", "--sensitive", "gender"], () => answers.shift());
    expect(result.code).toBe(0);
    expect(result.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/v1/models/churn/versions/3/evaluations", "GET /api/v1/evaluations/eval-1", "GET /api/v1/evaluations/eval-1"]);
    expect(result.stderr).toContain("evaluation eval-1 pending");
    expect(result.stderr).toContain("evaluation eval-1 running");
    expect(result.requests[0]).toMatchObject({
      method: "POST",
      path: "/api/v1/models/churn/versions/3/evaluations",
      body: { data: DATA, label: "churned", sensitive: ["gender"] },
    });
    expect(result.stdout).toContain("quality:accuracy");
    expect(result.stdout).toContain("value=0.91");
    // It says which reference was used, where it came from, and how features were matched.
    expect(result.stdout).toContain("runs:/r1/data/train.csv (lineage dataset 'train' of run r1)");
    expect(result.stdout).toMatch(/Features:\s+2, matched by name/);
  });

  it("evaluate uploads a local CSV first and evaluates its uploads:/ URI; a missing local file is refused before any request", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-cli-eval-"));
    writeFileSync(join(dir, "eval.csv"), "tenure,spend,label\n1,2,0\n");
    const uri = `uploads:/${"a".repeat(64)}`;
    const result = await runForTest(["evaluate", "churn@3", "--data", "eval.csv", "--no-wait"], (r) => (r.path === "/api/v1/evaluation-data" ? { uri, digest: `sha256:${"a".repeat(64)}`, size: 22, team: "default" } : pending()), { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/v1/evaluation-data", "POST /api/v1/models/churn/versions/3/evaluations"]);
    expect(result.requests[0]?.body).toEqual({ bytes: "tenure,spend,label\n1,2,0\n" });
    // The upload goes to the model's team, where the evaluation reads it.
    expect(result.requests[0]?.query).toEqual({ model: "churn" });
    expect(result.requests[1]?.body).toMatchObject({ data: uri });
    expect(result.stderr).toContain(`as ${uri}`);
    const missing = await runForTest(["evaluate", "churn@3", "--data", "nope.csv"], () => pending(), { cwd: dir });
    expect(missing.code).toBe(2);
    expect(missing.requests).toEqual([]);
  });

  it("evaluations policy history lists who changed the gate policy, when, and what it replaced", async () => {
    const policy = { checks: [{ type: "quality", metric: "accuracy", min: 0.8 }] };
    const changes = [
      { id: "c2", model: "churn", version: "bbb", policy, previous: { version: "aaa", source: "model", policy }, user: "ada", createdAt: 2_000 },
      { id: "c1", model: "churn", version: "aaa", policy, previous: { version: "ddd", source: "default", policy }, user: "admin", createdAt: 1_000 },
    ];
    const result = await runForTest(["evaluations", "policy", "history", "churn"], () => ({ changes }));
    expect(result.requests[0]?.path).toBe("/api/v1/models/churn/gate-policy/history");
    expect(result.stdout).toMatch(/ada\s+bbb\s+aaa \(model\)/);
    expect(result.stdout).toMatch(/admin\s+aaa\s+ddd \(default\)/);
  });

  it("evaluate exits with the gate's code when a check fails and prints the fix", async () => {
    const result = await runForTest(["evaluate", "churn@3", "--data", DATA], () => evaluation(false));
    expect(result.code).toBe(9);
    expect(result.stdout).toContain("To fix:");
    expect((await runForTest(["evaluate", "churn", "--data", "/x.csv"])).code).not.toBe(0);
  });

  it("evaluate --no-wait returns the accepted evaluation; an evaluation that could not run exits non-zero with its reason", async () => {
    const accepted = await runForTest(["evaluate", "churn@3", "--data", DATA, "--no-wait"], () => pending());
    expect(accepted.code).toBe(0);
    expect(accepted.requests).toHaveLength(1);
    expect(accepted.stdout).toContain("eval-1");
    expect(accepted.stdout).toContain("Pending");
    const json = await runForTest(["evaluate", "churn@3", "--data", DATA, "--no-wait", "--json"], () => pending());
    expect(JSON.parse(json.stdout).phase).toBe("Pending");
    const answers = [pending(), { ...evaluation(false, "Error"), checks: [] }];
    const error = await runForTest(["evaluate", "churn@3", "--data", DATA], () => answers.shift());
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

  it("evaluations ls sends --limit and --page-token and notes the next page's token", async () => {
    const ls = await runForTest(["evaluations", "ls", "--limit", "1", "--page-token", "tok-1"], () => ({ evaluations: [evaluation(false)], nextPageToken: "tok-2" }));
    expect(ls.requests[0]).toMatchObject({ path: "/api/v1/evaluations", query: { limit: "1", pageToken: "tok-1" } });
    expect(ls.stderr).toContain("more evaluations: add --page-token tok-2");
    const json = await runForTest(["evaluations", "ls", "--json"], () => ({ evaluations: [], nextPageToken: "tok-3" }));
    expect(JSON.parse(json.stdout)).toEqual({ evaluations: [], nextPageToken: "tok-3" });
  });

  it("models alias --force sends the override with its reason", async () => {
    const result = await runForTest(["models", "alias", "churn", "production", "3", "--force", "--reason", "hotfix"], () => ({ name: "churn", alias: "production", version: "3" }));
    expect(result.requests[0]?.body).toEqual({ version: "3", force: true, reason: "hotfix" });
  });
});
