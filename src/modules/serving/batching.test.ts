import { describe, expect, it } from "vitest";
import { batchKey, isBatchable, mergeInputs, splitOutputs } from "./batching.ts";
import type { Tensor } from "./tensor.ts";

const tensor = (rows: number, start: number): Tensor => ({ name: "x", datatype: "FP32", shape: [rows, 2], data: Float32Array.from({ length: rows * 2 }, (_, i) => start + i) });

describe("micro-batching helpers", () => {
  it("merges along the batch axis and splits the outputs back", () => {
    const merged = mergeInputs([[tensor(1, 0)], [tensor(2, 10)]]);
    expect(merged[0]!.shape).toEqual([3, 2]);
    expect(Array.from(merged[0]!.data as Float32Array)).toEqual([0, 1, 10, 11, 12, 13]);
    const split = splitOutputs(merged, [1, 2]);
    expect(split.map((o) => Array.from(o[0]!.data as Float32Array))).toEqual([[0, 1], [10, 11, 12, 13]]);
    expect(split[1]![0]!.shape).toEqual([2, 2]);
  });

  it("batches only requests whose non-batch dimensions agree", () => {
    expect(batchKey([tensor(1, 0)])?.key).toBe(batchKey([tensor(5, 0)])?.key);
    expect(batchKey([{ ...tensor(1, 0), shape: [1, 3] }])?.key).not.toBe(batchKey([tensor(1, 0)])?.key);
    expect(batchKey([tensor(1, 0), { ...tensor(2, 0), name: "y" }])).toBeUndefined();
  });

  it("needs a dynamic first dimension named alike in every input and output", () => {
    const sig = { inputs: [{ name: "x", datatype: "FP32" as const, shape: [-1, 2] }], outputs: [{ name: "y", datatype: "FP32" as const, shape: [-1] }] };
    expect(isBatchable(sig, ["batch", "batch"])).toBe(true);
    expect(isBatchable(sig, ["batch", "other"])).toBe(false);
    expect(isBatchable({ ...sig, inputs: [{ name: "x", datatype: "FP32", shape: [2, 2] }] }, [2, "batch"])).toBe(false);
  });
});
