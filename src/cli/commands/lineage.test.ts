import { describe, expect, it } from "vitest";
import type { LineageGraph } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const node = (id: string, kind: LineageGraph["nodes"][number]["kind"], label: string, ref: string | null = null) => ({ id, kind, label, team: null, ref, attributes: {} });
const GRAPH: LineageGraph = {
  root: "model:churn@3",
  nodes: [
    node("model:churn@3", "model", "model churn@3", "models:/churn/3"),
    node("run:r1", "run", "run r1 (train) in churn", "runs:/r1"),
    node("commit:abc", "commit", "commit abc"),
    node("dataset:churn@2", "dataset", "dataset churn@2 (30 rows)", "datasets:/churn@2"),
    node("deployment:deploy-1", "deployment", "deployment deploy-1 (churn@3 to production, canary, Succeeded)", "deploy-1"),
  ],
  edges: [
    { from: "run:r1", to: "model:churn@3", relation: "registered from" },
    { from: "commit:abc", to: "run:r1", relation: "code of" },
    { from: "dataset:churn@2", to: "run:r1", relation: "read by" },
    { from: "model:churn@3", to: "deployment:deploy-1", relation: "deployed as" },
  ],
  truncated: false,
};

describe("paved lineage", () => {
  it("asks for the reference and direction, and draws both trees", async () => {
    const both = await runForTest(["lineage", "models:/churn/3"], () => GRAPH);
    expect(both.code).toBe(0);
    expect(both.requests[0]).toMatchObject({ method: "GET", path: "/api/v1/lineage", query: { ref: "models:/churn/3", direction: "both" } });
    expect(both.stdout).toContain("model churn@3   models:/churn/3");
    expect(both.stdout).toContain("Upstream (where it came from):\n  ← registered from: run r1 (train) in churn   runs:/r1\n    ← code of: commit abc\n    ← read by: dataset churn@2 (30 rows)   datasets:/churn@2");
    expect(both.stdout).toContain("Downstream (made from it):\n  → deployed as: deployment deploy-1 (churn@3 to production, canary, Succeeded)");
    const up = await runForTest(["lineage", "datasets:/churn@2", "--down", "--depth", "3", "--json"], () => GRAPH);
    expect(up.requests[0]?.query).toMatchObject({ direction: "downstream", depth: "3" });
    expect(JSON.parse(up.stdout).root).toBe("model:churn@3");
    expect((await runForTest(["lineage", "x", "--up", "--down"])).code).not.toBe(0);
  });
});
