import { z } from "zod";
import { describe, expect, it } from "vitest";
import { PlatformError } from "./errors.ts";
import { parseInput, suggestSimilar, validate, type Problem } from "./validate.ts";

const spec = z.strictObject({
  name: z.string(),
  command: z.array(z.string()),
  workingDir: z.string().optional(),
  retry: z.strictObject({ maxAttempts: z.number().default(1), retryOnExitCodes: z.array(z.number()).default([]) }).optional(),
  datasets: z
    .array(z.union([z.strictObject({ name: z.string(), path: z.string() }), z.strictObject({ name: z.string(), source: z.string(), digest: z.string() })]))
    .default([]),
  priority: z.union([z.number(), z.string()]).optional(),
});

function problems(input: unknown): Problem[] {
  const result = validate(spec, input);
  if (result.success) throw new Error("expected a failure");
  return result.problems;
}

describe("input validation (issue 7, item 17: every unknown field, with did you mean)", () => {
  it("names every unknown field at its path, each with the closest known field", () => {
    expect(problems({ name: "a", comand: ["x"], workingdir: "/w", retry: { maxAtempts: 3 } })).toEqual(
      expect.arrayContaining([
        { path: "comand", message: "unknown field; did you mean 'command'?" },
        { path: "workingdir", message: "unknown field; did you mean 'workingDir'?" },
        { path: "retry.maxAtempts", message: "unknown field; did you mean 'maxAttempts'?" },
      ]),
    );
  });

  it("lists the known fields when none is close", () => {
    const [problem] = problems({ name: "a", command: ["x"], zzzzzz: 1 });
    expect(problem?.path).toBe("zzzzzz");
    expect(problem?.message).toContain("known fields here: name, command, workingDir, retry, datasets, priority");
  });

  it("an object that fails every branch of a union is judged by the branch it nearly matched", () => {
    expect(problems({ name: "a", command: ["x"], datasets: [{ name: "train", pth: "data.csv" }] })).toEqual([
      { path: "datasets.0.path", message: expect.any(String) },
      { path: "datasets.0.pth", message: "unknown field; did you mean 'path'?" },
    ]);
    // A value of the wrong type keeps the union's own message.
    expect(problems({ name: "a", command: ["x"], priority: true }).map((p) => p.path)).toEqual(["priority"]);
  });

  it("parseInput's INVALID_INPUT message names both typos of a spec with two", () => {
    let error: unknown;
    try {
      parseInput(spec, { nme: "a", command: ["x"], retry: { maxAtempts: 3 } }, "job spec");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).code).toBe("INVALID_INPUT");
    const listed = (error as PlatformError).details?.problems as Problem[];
    expect(listed.filter((p) => p.message.includes("did you mean")).map((p) => p.path)).toEqual(["retry.maxAtempts", "nme"]);
    expect((error as PlatformError).message).toContain("nme: unknown field; did you mean 'name'?");
    expect((error as PlatformError).message).toContain("retry.maxAtempts: unknown field; did you mean 'maxAttempts'?");
  });

  it("suggests like commander: at most two edits, transpositions count once", () => {
    expect(suggestSimilar("comand", ["command", "name"])).toBe("command");
    expect(suggestSimilar("nmae", ["name", "command"])).toBe("name");
    expect(suggestSimilar("cpus", ["gpus", "cpus2"])).toBe("gpus");
    expect(suggestSimilar("xyz", ["command", "name"])).toBeUndefined();
    expect(suggestSimilar("a", ["b"])).toBeUndefined();
  });
});
