import { describe, expect, it } from "vitest";
import { BUILT_IN_GATE_POLICY_FILE } from "../catalog/index.ts";
import { loadPolicyFile, parsePolicy } from "./policy.ts";

describe("gate policies", () => {
  it("loads the shipped default", () => {
    const { policy, version } = loadPolicyFile(BUILT_IN_GATE_POLICY_FILE);
    expect(policy.checks.map((c) => c.type)).toEqual(["quality", "performance", "drift", "compliance"]);
    expect(version).toMatch(/^[0-9a-f]{12}$/);
  });

  it("versions by content, not by formatting", () => {
    const yaml = parsePolicy("checks:\n  - type: drift\n    maxPsi: 0.2\n");
    const json = parsePolicy({ checks: [{ maxPsi: 0.2, type: "drift" }] });
    expect(json.version).toBe(yaml.version);
    expect(parsePolicy({ checks: [{ type: "drift", maxPsi: 0.3 }] }).version).not.toBe(yaml.version);
  });

  it("names unknown fields and wrong bounds", () => {
    const problem = (input: unknown) => {
      try {
        parsePolicy(input);
      } catch (error) {
        return (error as { code: string; details?: { problems: { path: string }[] } });
      }
      throw new Error("expected a rejection");
    };
    expect(problem({ checks: [{ type: "bias", sensitiveColumn: "g", maxParity: 1 }] }).details?.problems[0]?.path).toBe("checks.0.maxParity");
    expect(problem({ checks: [], extra: 1 }).code).toBe("INVALID_INPUT");
    expect(problem({ checks: [{ type: "quality", metric: "rmse", min: 1 }] }).code).toBe("INVALID_INPUT");
    expect(problem("checks: [").code).toBe("INVALID_INPUT");
  });

  it("refuses checks that bound nothing, which would pass every version", () => {
    const problem = (input: unknown) => {
      try {
        parsePolicy(input);
      } catch (error) {
        return error as { code: string; details?: { problems: { path: string }[] } };
      }
      throw new Error("expected a rejection");
    };
    // A compliance check with no field set yields no result at all: the policy passed everything.
    const empty = problem({ checks: [{ type: "compliance" }] });
    expect(empty.code).toBe("INVALID_INPUT");
    expect(empty.details?.problems.map((p) => p.path)).toEqual(["checks.0"]);
    expect(problem("checks:\n  - {type: compliance, requiredModelCardFields: []}\n").code).toBe("INVALID_INPUT");
    expect(problem({ checks: [{ type: "quality", metric: "accuracy", min: 0.8 }, { type: "drift" }] }).details?.problems.map((p) => p.path)).toEqual(["checks.1"]);
    for (const check of [{ type: "performance" }, { type: "bias", sensitiveColumn: "g" }, { type: "quality", metric: "auc" }]) {
      expect(problem({ checks: [check] }).code).toBe("INVALID_INPUT");
    }
    expect(parsePolicy({ checks: [{ type: "compliance", requireLineage: true }] }).policy.checks).toHaveLength(1);
    expect(parsePolicy({ checks: [{ type: "quality", metric: "auc", relativeToProduction: 0.01 }] }).policy.checks).toHaveLength(1);
  });

  it("names every mistyped field of a policy with the field it probably meant", () => {
    let error: { code?: string; message?: string; details?: { problems: { path: string; message: string }[] } } = {};
    try {
      parsePolicy("checks:\n  - type: quality\n    metirc: accuracy\n    min: 0.7\n  - type: drift\n    maxPsi: 0.2\n    maxKsStatistc: 0.3\n");
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.code).toBe("INVALID_INPUT");
    const problems = error.details!.problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "checks.0.metirc", message: expect.stringContaining("'metric'") }),
        expect.objectContaining({ path: "checks.1.maxKsStatistc", message: expect.stringContaining("'maxKsStatistic'") }),
      ]),
    );
  });
});

