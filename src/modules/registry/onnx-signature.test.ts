import { describe, expect, it } from "vitest";
import { exportLinearOnnx } from "../../../test/support/onnx.ts";
import { encode, externalDataOnnx, model, paddedOnnx, valueInfo } from "../../../test/support/onnx-protobuf.ts";
import { MalformedOnnx, OnnxTooComplex, chunksOf, readOnnx, type ChunkSource } from "./onnx-signature.ts";

const LIMITS = { maxStructureBytes: 64 * 1024 ** 2 };

/** The bytes in chunks of `size` (1: every field header straddles a chunk boundary). */
function chunked(bytes: Uint8Array, size: number): ChunkSource {
  let at = 0;
  return async () => {
    if (at >= bytes.length) return undefined;
    const chunk = bytes.slice(at, at + size);
    at += size;
    return chunk;
  };
}

describe("readOnnx", () => {
  const linear = exportLinearOnnx();

  it("reads names, element types and shapes of a torch-exported model, in any chunking", async () => {
    const expected = {
      inputs: [{ name: "features", type: "float32", shape: ["batch", 4] }],
      outputs: [{ name: "scores", type: "float32", shape: ["batch", 2] }],
      externalData: [],
      externalTensors: 0,
    };
    expect(await readOnnx(chunksOf(linear), LIMITS)).toEqual(expected);
    for (const size of [1, 7, 64]) expect(await readOnnx(chunked(linear, size), LIMITS)).toEqual(expected);
  });

  it("leaves initializers out of the inputs", async () => {
    const bytes = model([[5, [[1, 1], [2, 1], [8, "w"], [9, new Uint8Array(4)]]], [11, valueInfo("w", 1, [1])], [11, valueInfo("x", 1, [1])], [12, valueInfo("y", 1, [1])]]);
    const inspection = await readOnnx(chunksOf(bytes), LIMITS);
    expect(inspection.inputs.map((i) => i.name)).toEqual(["x"]);
  });

  it.each(["initializer", "constant", "subgraph"] as const)("finds external data in a %s", async (where) => {
    // Issue 7, finding 10: onnxruntime read these from its working directory (package.json here).
    const bytes = externalDataOnnx("package.json", 64, where);
    for (const source of [chunksOf(bytes), chunked(bytes, 3)]) {
      const { externalData, externalTensors } = await readOnnx(source, LIMITS);
      expect(externalTensors).toBe(where === "subgraph" ? 2 : 1);
      expect(externalData).toHaveLength(externalTensors);
      expect(externalData[0]).toEqual({ tensor: where === "initializer" ? "w" : "value", location: "package.json" });
    }
  });

  it("counts data_location EXTERNAL (or any value but DEFAULT) without an external_data entry", async () => {
    const bytes = model([[5, [[1, 1], [2, 1], [8, "w"], [14, 1]]], [12, valueInfo("y", 1, [1])]]);
    expect((await readOnnx(chunksOf(bytes), LIMITS)).externalData).toEqual([{ tensor: "w", location: "" }]);
    const odd = model([[5, [[1, 1], [2, 1], [8, "w"], [14, 2 ** 32 + 1]]], [12, valueInfo("y", 1, [1])]]);
    expect((await readOnnx(chunksOf(odd), LIMITS)).externalData).toHaveLength(1);
  });

  it("skips weights without counting them, and bounds the rest", async () => {
    const weights = new Uint8Array(8 * 1024 ** 2);
    const big = model([[5, [[1, weights.length / 4], [2, 1], [8, "w"], [9, weights]]], [12, valueInfo("y", 1, [1])]]);
    expect((await readOnnx(chunked(big, 1024 ** 2), { maxStructureBytes: 4096 })).outputs).toHaveLength(1);
    await expect(readOnnx(chunksOf(paddedOnnx(100_000)), { maxStructureBytes: 50_000 })).rejects.toBeInstanceOf(OnnxTooComplex);
  });

  it("rejects bytes that are not an ONNX model", async () => {
    const bad = [
      Buffer.from("not a model at all"),
      Buffer.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
      Buffer.alloc(0),
      linear.subarray(0, linear.length - 5),
      encode([[7, [[12, valueInfo("y", 1, [1])]]]]).subarray(0, 4),
      // A group (wire type 3), which ONNX never uses.
      Buffer.concat([encode([[7, [[12, valueInfo("y", 1, [1])]]]]), Buffer.from([0x1b])]),
    ];
    for (const bytes of bad) await expect(readOnnx(chunksOf(bytes), LIMITS)).rejects.toBeInstanceOf(MalformedOnnx);
  });
});
