import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { PlatformError, describeProblems, invalidInput, validate } from "../../core/index.ts";
import { GatePolicy, LOWER_IS_BETTER, type PolicyCheck } from "./schema.ts";

/** A parsed gate policy with its version: a hash of its canonical JSON, so equal policies share a version. */
export interface VersionedPolicy {
  policy: GatePolicy;
  version: string;
}

/** Parses policy text (YAML or JSON) or an object; INVALID_INPUT names each bad or unknown field. */
export function parsePolicy(input: unknown): VersionedPolicy {
  let raw = input;
  if (typeof input === "string") {
    try {
      raw = parseYaml(input);
    } catch (error) {
      throw invalidInput(`gate policy is not valid YAML or JSON: ${(error as Error).message}; see docs/evaluation.md for the format`);
    }
  }
  const result = validate(GatePolicy, raw);
  if (!result.success) {
    throw invalidInput(`invalid gate policy: ${describeProblems(result.problems)}; see docs/evaluation.md for the fields each check takes`, {
      problems: result.problems,
    });
  }
  const policy = result.data;
  policy.checks.forEach((check, i) => {
    if (check.type !== "quality") return;
    const lower = LOWER_IS_BETTER.has(check.metric);
    if (lower && check.min !== undefined) throw invalidInput(`checks.${i}.min: ${check.metric} is an error (lower is better); give max instead`);
    if (!lower && check.max !== undefined) throw invalidInput(`checks.${i}.max: ${check.metric} is higher-is-better; give min instead`);
  });
  const idle = idleChecks(policy);
  if (idle.length) {
    throw invalidInput(
      `invalid gate policy: ${idle.map((p) => `${p.path}: ${p.message}`).join("; ")}; a check that bounds nothing would pass every version (see docs/evaluation.md for the fields each check takes)`,
      { problems: idle },
    );
  }
  return { policy, version: policyVersion(policy) };
}

/** The bounds each check type may set; a check that sets none of them checks nothing. */
const BOUNDS: Record<PolicyCheck["type"], string[]> = {
  quality: ["min", "max", "relativeToProduction"],
  performance: ["p50Ms", "p95Ms", "p99Ms", "minThroughput"],
  bias: ["maxDemographicParityDifference", "maxEqualizedOddsDifference"],
  drift: ["maxPsi", "maxKsStatistic"],
  compliance: ["requiredModelCardFields", "requireLineage", "forbidSensitiveFeatures"],
};

/**
 * Checks of a policy that bound nothing, so they could never fail a version (a compliance check
 * with no field set yields no result at all, and a policy of such checks passed everything).
 */
export function idleChecks(policy: GatePolicy): { path: string; message: string }[] {
  return policy.checks.flatMap((check, i) => {
    const set = BOUNDS[check.type].filter((field) => {
      const value = (check as Record<string, unknown>)[field];
      return Array.isArray(value) ? value.length > 0 : value !== undefined && value !== false;
    });
    return set.length ? [] : [{ path: `checks.${i}`, message: `this ${check.type} check sets none of ${BOUNDS[check.type].join(", ")}` }];
  });
}

export function policyVersion(policy: GatePolicy): string {
  return createHash("sha256").update(canonical(policy)).digest("hex").slice(0, 12);
}

/** Loads the shipped default policy; a broken file is a CONFIG error at start. */
export function loadPolicyFile(path: string): VersionedPolicy {
  try {
    return parsePolicy(readFileSync(path, "utf8"));
  } catch (error) {
    throw new PlatformError("CONFIG", `cannot load the gate policy '${path}': ${(error as Error).message}`);
  }
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
