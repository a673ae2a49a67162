import { describe, expect, it } from "vitest";
import { parseFilter, parseOrderBy } from "./search-filter.ts";

describe("MLflow filter strings", () => {
  it("parses metrics, params, tags and attributes joined by AND", () => {
    const clauses = parseFilter(
      "metrics.acc > 0.9 and params.lr = '0.01' AND tags.mlflow.runName LIKE 'x%' and attributes.status = \"FINISHED\"",
    );
    expect(clauses).toEqual([
      { entity: "metric", key: "acc", op: ">", value: 0.9 },
      { entity: "param", key: "lr", op: "=", value: "0.01" },
      { entity: "tag", key: "mlflow.runName", op: "LIKE", value: "x%" },
      { entity: "attribute", key: "status", op: "=", value: "FINISHED" },
    ]);
  });

  it("accepts quoted keys, IN lists, ILIKE and attribute aliases", () => {
    expect(parseFilter("metrics.`val loss` <= -1.5e-3")).toEqual([{ entity: "metric", key: "val loss", op: "<=", value: -0.0015 }]);
    expect(parseFilter('tags."my tag" ILIKE \'%A%\'')).toEqual([{ entity: "tag", key: "my tag", op: "ILIKE", value: "%A%" }]);
    expect(parseFilter("attributes.run_id IN ('a', 'b') and attribute.created >= 5")).toEqual([
      { entity: "attribute", key: "run_id", op: "IN", value: ["a", "b"] },
      { entity: "attribute", key: "start_time", op: ">=", value: 5 },
    ]);
    expect(parseFilter("tags.team NOT IN ('x')")).toEqual([{ entity: "tag", key: "team", op: "NOT IN", value: ["x"] }]);
    expect(parseFilter("")).toEqual([]);
  });

  it.each([
    "metrics.acc > 'high'",
    "params.lr > 0.1",
    "metrics.acc > 0.9 or params.lr = '1'",
    "foo.bar = 1",
    "attributes.nope = 'x'",
    "metrics.acc >",
    "params.lr = 'unterminated",
    "metrics.acc > 1 and",
  ])("rejects %s with INVALID_INPUT", (filter) => {
    expect(() => parseFilter(filter)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });

  it("parses order_by terms", () => {
    expect(parseOrderBy(["metrics.acc DESC", "attributes.start_time ASC", "params.lr", "tags.`a b` desc"])).toEqual([
      { entity: "metric", key: "acc", ascending: false },
      { entity: "attribute", key: "start_time", ascending: true },
      { entity: "param", key: "lr", ascending: true },
      { entity: "tag", key: "a b", ascending: false },
    ]);
    expect(() => parseOrderBy(["metrics.acc sideways"])).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});
