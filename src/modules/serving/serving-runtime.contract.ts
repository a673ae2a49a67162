// The contract every ServingRuntime passes (run from each backend's test file): load the tiny
// test model, describe it, answer like torch, serve several versions at once, unload.
import { afterAll, describe, expect, it } from "vitest";
import type { ServingRuntime } from "./serving-runtime.ts";
import { toInputTensors, toJsonData } from "./tensor.ts";
import type { TestModels } from "./test-models.ts";

export function servingRuntimeContract(kind: string, create: () => ServingRuntime, models: () => TestModels): void {
  describe(`ServingRuntime contract: ${kind}`, () => {
    const runtime = create();
    afterAll(() => runtime.close());

    it("loads a model and reports its signature with -1 for dynamic dimensions", async () => {
      const handle = await runtime.load(models().bytes("tiny"), { replicas: 1, maxBatch: 8 });
      expect(runtime.metadata(handle)).toEqual({
        inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }],
        outputs: [{ name: "probabilities", datatype: "FP32", shape: [-1, 2] }],
      });
      await runtime.unload(handle);
    });

    it("answers what torch answers, for two versions side by side", async () => {
      const v1 = await runtime.load(models().bytes("tiny"), { replicas: 1, maxBatch: 8 });
      const v2 = await runtime.load(models().bytes("tiny-v2"), { replicas: 1, maxBatch: 8 });
      for (const [handle, name] of [[v1, "tiny"], [v2, "tiny-v2"]] as const) {
        const expected = models().expected[name];
        const input = (expected.input as number[][]).slice(0, 5);
        const outputs = await runtime.infer(handle, toInputTensors(runtime.metadata(handle), [{ name: "input", datatype: "FP32", shape: [5, 4], data: input }]));
        expect(outputs[0]!.shape).toEqual([5, 2]);
        const want = (expected.probabilities as number[][]).slice(0, 5).flat();
        toJsonData(outputs[0]!).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
      }
      await runtime.unload(v1);
      await runtime.unload(v2);
    });

    it("rejects bytes that are not a model with INVALID_INPUT", async () => {
      await expect(runtime.load(new TextEncoder().encode("not a model"), { replicas: 1, maxBatch: 8 })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    });

    it("answers NOT_FOUND for an unloaded handle", async () => {
      const handle = await runtime.load(models().bytes("tiny"), { replicas: 1, maxBatch: 8 });
      await runtime.unload(handle);
      expect(() => runtime.metadata(handle)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    });
  });
}
