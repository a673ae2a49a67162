import { describe, expect, it } from "vitest";
import { z } from "zod";
import { isPlatformError, type PlatformError } from "../../core/index.ts";
import { expandSteps, findCycle, planPipeline, runParameters } from "./dag.ts";
import { parseTemplate, resolveReferences } from "./references.ts";
import { pipelineSpecSchema, type PipelineSpecInput } from "./schema.ts";
import { echoStep, StepRegistry, type StepKind } from "./steps.ts";

/** A stand-in `job` kind for planning only (its schema and outputs; nothing runs in these tests). */
const fakeJob: StepKind = {
  kind: "job",
  summary: "test",
  schema: z.strictObject({ command: z.array(z.string()).min(1), env: z.record(z.string(), z.string()).optional(), epochs: z.number().optional() }),
  outputs: () => ["run_id", "job_id", "artifacts"],
  start: async () => ({ handle: "x" }),
  observe: async () => ({ state: "running" }),
};

function kinds(): StepRegistry {
  const r = new StepRegistry();
  r.register(echoStep);
  r.register(fakeJob);
  return r;
}

function plan(steps: unknown[], parameters: Record<string, unknown> = {}) {
  const spec = pipelineSpecSchema.parse({ kind: "Pipeline", metadata: { name: "p" }, spec: { parameters, steps } } as PipelineSpecInput);
  return planPipeline(spec, kinds());
}

function refused(f: () => unknown): PlatformError {
  try {
    f();
  } catch (error) {
    if (isPlatformError(error)) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("pipeline DAG validation", () => {
  it("refuses a cycle with its path", () => {
    const e = refused(() =>
      plan([
        { name: "a", dependsOn: ["c"], echo: { x: 1 } },
        { name: "b", dependsOn: ["a"], echo: { x: 1 } },
        { name: "c", echo: { y: "${{ steps.b.outputs.x }}" } },
      ]),
    );
    expect(e.code).toBe("INVALID_INPUT");
    expect(e.details?.cycle).toEqual(["a", "c", "b", "a"]);
    expect(e.message).toContain("a → c → b → a");
  });

  it("refuses a step that depends on itself", () => {
    const e = refused(() => plan([{ name: "a", dependsOn: ["a"], echo: { x: 1 } }]));
    expect(e.details?.cycle).toEqual(["a", "a"]);
  });

  it("finds no cycle in a 2,000-step chain (and does not overflow the stack)", () => {
    const steps = Array.from({ length: 2000 }, (_, i) => ({ name: `s${i}`, dependsOn: i ? [`s${i - 1}`] : [] }));
    expect(findCycle(steps)).toBeUndefined();
    steps[0]!.dependsOn = ["s1999"];
    expect(findCycle(steps)?.length).toBe(2001);
  });

  it("refuses unknown steps, outputs and parameters, naming the known ones", () => {
    const unknownStep = refused(() => plan([{ name: "a", echo: { x: 1 } }, { name: "b", echo: { y: "${{ steps.nope.outputs.x }}" } }]));
    expect(unknownStep.code).toBe("INVALID_INPUT");
    expect(unknownStep.details?.known).toEqual(["a", "b"]);
    const unknownOutput = refused(() => plan([{ name: "t", job: { command: ["x"] } }, { name: "b", echo: { y: "${{ steps.t.outputs.model }}" } }]));
    expect(unknownOutput.details?.known).toEqual(["run_id", "job_id", "artifacts"]);
    const unknownDep = refused(() => plan([{ name: "a", dependsOn: ["zzz"], echo: { x: 1 } }]));
    expect(unknownDep.details?.known).toEqual(["a"]);
    const unknownParam = refused(() => plan([{ name: "a", echo: { x: "${{ params.lr }}" } }], { epochs: 3 }));
    expect(unknownParam.details?.known).toEqual(["epochs"]);
  });

  it("implies dependencies from references", () => {
    const p = plan([
      { name: "train", job: { command: ["python", "t.py"] } },
      { name: "reg", echo: { source: "runs:/${{ steps.train.outputs.run_id }}/outputs" } },
    ]);
    expect(p[1]!.dependsOn).toEqual(["train"]);
  });

  it("refuses a step with no kind, two kinds or an unknown kind, and a body its kind refuses", () => {
    expect(refused(() => plan([{ name: "a" }])).details?.known).toEqual(["echo", "job"]);
    expect(refused(() => plan([{ name: "a", echo: { x: 1 }, job: { command: ["x"] } }])).code).toBe("INVALID_INPUT");
    expect(refused(() => plan([{ name: "a", train: {} }])).message).toContain("known kinds: echo, job");
    expect(refused(() => plan([{ name: "a", job: { command: [] } }])).message).toContain("command");
    // A field that holds a reference is checked once it is resolved.
    expect(plan([{ name: "a", job: { command: ["x"], epochs: "${{ params.e }}" } }], { e: 3 })).toHaveLength(1);
  });

  it("refuses duplicate names, item outside forEach, and too many steps", () => {
    expect(refused(() => plan([{ name: "a", echo: { x: 1 } }, { name: "a", echo: { x: 1 } }])).message).toContain("twice");
    expect(refused(() => plan([{ name: "a", echo: { x: "${{ item }}" } }])).message).toContain("forEach");
    const many = Array.from({ length: 2001 }, (_, i) => ({ name: `s${i}`, echo: { x: 1 } }));
    expect(() => pipelineSpecSchema.parse({ metadata: { name: "p" }, spec: { steps: many } })).toThrow(/at most 2000 steps/);
  });

  it("fans out over a literal list or a list parameter, bounded", () => {
    const p = plan([{ name: "t", forEach: "${{ params.lrs }}", echo: { lr: "${{ item }}" } }, { name: "pick", echo: { all: "${{ steps.t.outputs.lr }}" } }], { lrs: [0.1, 0.01] });
    const instances = expandSteps(p, runParameters({ lrs: [0.1, 0.01] }, { lrs: "[0.5, 0.25, 0.125]" }));
    expect(instances.map((i) => i.key)).toEqual(["t[0]", "t[1]", "t[2]", "pick"]);
    expect(instances[2]!.item).toBe(0.125);
    expect(refused(() => runParameters({ lrs: [1] }, { lrs: "0.1" })).message).toContain("is a list");
    expect(refused(() => runParameters({ lrs: [1] }, { nope: 1 })).details?.known).toEqual(["lrs"]);
    expect(refused(() => plan([{ name: "t", forEach: "${{ params.x }}", echo: { a: 1 } }], { x: 1 })).message).toContain("not a list");
    expect(() => pipelineSpecSchema.parse({ metadata: { name: "p" }, spec: { steps: [{ name: "t", forEach: Array.from({ length: 1001 }, (_, i) => i), echo: { a: 1 } }] } })).toThrow(/at most 1000/);
  });
});

describe("references", () => {
  const scope = { params: { lr: 0.1, name: "m" }, hasItem: true, item: 3, steps: new Map<string, Record<string, unknown> | Record<string, unknown>[]>([["train", { run_id: "abc" }], ["fan", [{ v: 1 }, { v: 2 }]]]) };

  it("resolves whole-string references to the value and embedded ones to text", () => {
    expect(resolveReferences({ lr: "${{ params.lr }}", src: "runs:/${{steps.train.outputs.run_id}}/outputs", all: "${{ steps.fan.outputs.v }}", i: "${{ item }}" }, scope, "s")).toEqual({
      lr: 0.1,
      src: "runs:/abc/outputs",
      all: [1, 2],
      i: 3,
    });
  });

  it("names what is missing", () => {
    expect(() => resolveReferences("${{ steps.train.outputs.model }}", scope, "s")).toThrow(/its outputs: run_id/);
    expect(() => resolveReferences("${{ steps.eval.outputs.x }}", scope, "s")).toThrow(/has no outputs yet/);
  });

  it("refuses malformed references and scans long text in linear time", () => {
    expect(() => parseTemplate("${{ params.lr ", "f")).toThrow(/never closed/);
    expect(() => parseTemplate("${{ steps.a.b }}", "f")).toThrow(/not a reference/);
    expect(() => parseTemplate("${{ params.a b }}", "f")).toThrow(/not a reference/);
    // A pathological input for a backtracking pattern: many openings, no close.
    expect(() => parseTemplate("${{ " + "x}".repeat(100_000), "f")).toThrow(/never closed/);
    expect(parseTemplate("$ {".repeat(50_000), "f")).toHaveLength(1);
  });
});
