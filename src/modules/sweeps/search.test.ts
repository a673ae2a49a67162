import { describe, expect, it } from "vitest";
import { isPlatformError } from "../../core/index.ts";
import { sweepSpecSchema, trialTemplateSchema } from "./schema.ts";
import { ashaJudge, checkPlaceholders, gridPoint, gridSize, percentile, rungResources, samplePoint, trialJobSpec, trialsTarget } from "./search.ts";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isPlatformError(error) ? error.code : "not a PlatformError";
  }
  return undefined;
}

describe("grid", () => {
  const space = { lr: { values: [0.1, 0.01] }, layers: { distribution: "int" as const, min: 1, max: 3 }, opt: { values: ["sgd", "adam"] } };

  it("expands every combination once, in a fixed order", () => {
    expect(gridSize(space)).toBe(12);
    const points = Array.from({ length: 12 }, (_, n) => gridPoint(space, n));
    expect(new Set(points.map((p) => JSON.stringify(p))).size).toBe(12);
    // Sorted by name, the first (layers) varies slowest.
    expect(points[0]).toEqual({ layers: 1, lr: 0.1, opt: "sgd" });
    expect(points[1]).toEqual({ layers: 1, lr: 0.1, opt: "adam" });
    expect(points[11]).toEqual({ layers: 3, lr: 0.01, opt: "adam" });
  });

  it("refuses a continuous distribution and a grid over the trial limit", () => {
    expect(codeOf(() => gridSize({ lr: { distribution: "uniform", min: 0, max: 1 } }))).toBe("INVALID_INPUT");
    const big = { a: { distribution: "int" as const, min: 1, max: 100 }, b: { distribution: "int" as const, min: 1, max: 101 } };
    expect(codeOf(() => gridSize(big))).toBe("INVALID_INPUT");
  });
});

describe("random sampling", () => {
  const space = {
    lr: { distribution: "log-uniform" as const, min: 1e-5, max: 1e-1 },
    dropout: { distribution: "uniform" as const, min: 0, max: 0.5 },
    layers: { distribution: "int" as const, min: 2, max: 4 },
    opt: { values: ["sgd", "adam", "adamw"] },
  };

  it("stays within bounds, is reproducible by seed and trial, and differs between trials", () => {
    const draws = Array.from({ length: 500 }, (_, n) => samplePoint(space, 42, n));
    for (const p of draws) {
      expect(p.lr).toBeGreaterThanOrEqual(1e-5);
      expect(p.lr).toBeLessThanOrEqual(1e-1);
      expect(p.dropout).toBeGreaterThanOrEqual(0);
      expect(p.dropout).toBeLessThanOrEqual(0.5);
      expect([2, 3, 4]).toContain(p.layers);
      expect(["sgd", "adam", "adamw"]).toContain(p.opt);
    }
    expect(samplePoint(space, 42, 7)).toEqual(draws[7]);
    expect(samplePoint(space, 43, 7)).not.toEqual(draws[7]);
    expect(new Set(draws.map((p) => p.layers))).toEqual(new Set([2, 3, 4]));
    expect(new Set(draws.map((p) => p.opt)).size).toBe(3);
    // log-uniform: about as many draws per decade.
    const decades = new Map<number, number>();
    for (const p of draws) decades.set(Math.floor(Math.log10(p.lr as number)), (decades.get(Math.floor(Math.log10(p.lr as number))) ?? 0) + 1);
    expect([...decades.keys()].sort((a, b) => a - b)).toEqual([-5, -4, -3, -2]);
  });
});

describe("the spec", () => {
  const base = { name: "s", objective: { metric: "loss", goal: "minimize" }, parameters: { lr: { values: [1, 2] } }, trial: { command: ["python3", "t.py"], workingDir: "/tmp" } };

  it("needs maxTrials for random and asha settings for asha, and names the goals", () => {
    expect(sweepSpecSchema.safeParse({ ...base, method: "grid" }).success).toBe(true);
    expect(sweepSpecSchema.safeParse({ ...base, method: "random" }).success).toBe(false);
    expect(sweepSpecSchema.safeParse({ ...base, method: "asha", maxTrials: 4 }).success).toBe(false);
    expect(sweepSpecSchema.safeParse({ ...base, method: "asha", maxTrials: 4, asha: { maxResource: 9 } }).success).toBe(true);
    expect(sweepSpecSchema.safeParse({ ...base, method: "grid", objective: { metric: "loss", goal: "lowest" } }).success).toBe(false);
    expect(sweepSpecSchema.safeParse({ ...base, method: "grid", parameters: { lr: { distribution: "log-uniform", min: 0, max: 1 } } }).success).toBe(false);
    expect(sweepSpecSchema.safeParse({ ...base, method: "grid", parameters: { lr: { distribution: "normal", min: 0, max: 1 } } }).success).toBe(false);
  });

  it("runs the whole grid unless maxTrials asks for fewer", () => {
    expect(trialsTarget(sweepSpecSchema.parse({ ...base, method: "grid" }))).toBe(2);
    expect(trialsTarget(sweepSpecSchema.parse({ ...base, method: "grid", maxTrials: 1 }))).toBe(1);
  });
});

describe("a trial's job", () => {
  it("substitutes ${params.NAME} as text and adds the parameters to its hyperparameters", () => {
    const template = trialTemplateSchema.parse({ command: ["python3", "train.py", "--lr", "${params.lr}", "--tag=x${params.opt}; rm -rf /"], workingDir: "/tmp", env: { OPT: "${params.opt}" }, hyperparameters: { epochs: 3 } });
    const spec = trialJobSpec(template, { name: "search", team: "risk", experiment: "exp" }, 3, { lr: 0.01, opt: "adam" });
    expect(spec.name).toBe("search-3");
    expect(spec.team).toBe("risk");
    expect(spec.command).toEqual(["python3", "train.py", "--lr", "0.01", "--tag=xadam; rm -rf /"]);
    expect(spec.env).toEqual({ OPT: "adam" });
    expect(spec.hyperparameters).toEqual({ epochs: 3, lr: 0.01, opt: "adam" });
    expect(codeOf(() => checkPlaceholders(template, ["lr", "opt"]))).toBeUndefined();
    expect(codeOf(() => checkPlaceholders(template, ["lr"]))).toBe("INVALID_INPUT");
  });
});

describe("ASHA", () => {
  it("puts rungs at minResource x reductionFactor^k below maxResource", () => {
    expect(rungResources({ minResource: 1, maxResource: 27, reductionFactor: 3 })).toEqual([1, 3, 9]);
    expect(rungResources({ minResource: 2, maxResource: 8, reductionFactor: 2 })).toEqual([2, 4]);
  });

  it("lets the first trial at a rung on, and stops a later one outside the best 1/eta", () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(ashaJudge([], 5, "minimize", 2)).toEqual({ stop: false, cutoff: null });
    expect(ashaJudge([1], 2, "minimize", 2).stop).toBe(true);
    expect(ashaJudge([1], 0.5, "minimize", 2).stop).toBe(false);
    expect(ashaJudge([1], 2, "maximize", 2).stop).toBe(false);
    // eta 3: only values in the best third of the earlier ones go on.
    expect(ashaJudge([1, 2, 3], 1.5, "minimize", 3).stop).toBe(false);
    expect(ashaJudge([1, 2, 3], 2.5, "minimize", 3).stop).toBe(true);
    expect(ashaJudge([1, 2], Number.NaN, "minimize", 3).stop).toBe(true);
  });
});
