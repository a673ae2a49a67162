import { describe, expect, it } from "vitest";
import { inputValuePrefix, toBinaryData, toInputTensors, toJsonData, type ModelSignature } from "./tensor.ts";

const signature: ModelSignature = {
  inputs: [
    { name: "x", datatype: "FP32", shape: [-1, 3] },
    { name: "mask", datatype: "BOOL", shape: [-1] },
  ],
  outputs: [{ name: "y", datatype: "FP32", shape: [-1] }],
};

const x = (over: Record<string, unknown> = {}) => ({ name: "x", datatype: "FP32", shape: [2, 3], data: [1, 2, 3, 4, 5, 6], ...over });
const mask = { name: "mask", datatype: "BOOL", shape: [2], data: [true, false] };

describe("toInputTensors", () => {
  it("converts flat and nested data to typed arrays", () => {
    const flat = toInputTensors(signature, [x(), mask]);
    const nested = toInputTensors(signature, [x({ data: [[1, 2, 3], [4, 5, 6]] }), mask]);
    expect(Array.from(flat[0]!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(nested[0]!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(toJsonData(flat[1]!)).toEqual([true, false]);
  });

  it.each([
    ["an unknown input", [x(), mask, { ...mask, name: "other" }]],
    ["a missing input", [x()]],
    ["a datatype mismatch", [x({ datatype: "FP64" }), mask]],
    ["a rank mismatch", [x({ shape: [6] }), mask]],
    ["a fixed dimension mismatch", [x({ shape: [3, 2] }), mask]],
    ["data shorter than the shape", [x({ data: [1, 2, 3] }), mask]],
    ["data that is not numbers", [x({ data: [1, 2, 3, 4, 5, "6"] }), mask]],
    ["data that is not an array", [x({ data: "abc" }), mask]],
    ["booleans as numbers", [x(), { ...mask, data: [1, 0] }]],
    ["a duplicated input", [x(), x(), mask]],
  ])("rejects %s with INVALID_INPUT", (_what, inputs) => {
    expect(() => toInputTensors(signature, inputs)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });

  it("checks integer ranges and converts INT64 to BigInt", () => {
    const ints: ModelSignature = { inputs: [{ name: "ids", datatype: "INT64", shape: [-1] }, { name: "b", datatype: "UINT8", shape: [1] }], outputs: [] };
    const [ids] = toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [2], data: [1, -2] }, { name: "b", datatype: "UINT8", shape: [1], data: [255] }]);
    expect(Array.from(ids!.data as BigInt64Array)).toEqual([1n, -2n]);
    expect(toJsonData(ids!)).toEqual([1, -2]);
    expect(() => toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [1], data: [1.5] }, { name: "b", datatype: "UINT8", shape: [1], data: [1] }])).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT" }),
    );
    expect(() => toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [1], data: [1] }, { name: "b", datatype: "UINT8", shape: [1], data: [256] }])).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT" }),
    );
  });

  it("takes binary data (bytes, little-endian) for any datatype, checking its length and BOOL bytes", () => {
    const ints: ModelSignature = { inputs: [{ name: "ids", datatype: "INT64", shape: [-1] }, { name: "on", datatype: "BOOL", shape: [2] }], outputs: [] };
    const ids = new Uint8Array(new BigInt64Array([-1n, 2n ** 62n]).buffer);
    const [t] = toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [2], data: ids }, { name: "on", datatype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) }]);
    expect(Array.from(t!.data as BigInt64Array)).toEqual([-1n, 2n ** 62n]);
    expect(toBinaryData(t!)).toEqual(ids);
    expect(() => toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [3], data: ids }, { name: "on", datatype: "BOOL", shape: [2], data: new Uint8Array([1, 0]) }])).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT", details: expect.objectContaining({ reason: "binary_size_mismatch" }) }),
    );
    expect(() => toInputTensors(ints, [{ name: "ids", datatype: "INT64", shape: [2], data: ids }, { name: "on", datatype: "BOOL", shape: [2], data: new Uint8Array([1, 2]) }])).toThrow(
      expect.objectContaining({ code: "INVALID_INPUT", details: expect.objectContaining({ reason: "binary_bool_value" }) }),
    );
  });

  it("gives the first values of a JSON or binary input, for the prediction log", () => {
    expect(inputValuePrefix("FP32", [[1, 2], [3, 4]], 3)).toEqual({ values: [1, 2, 3], truncated: true });
    expect(inputValuePrefix("FP32", new Uint8Array(new Float32Array([0.5, 1.5]).buffer), 5)).toEqual({ values: [0.5, 1.5], truncated: false });
    expect(inputValuePrefix("BOOL", new Uint8Array([1, 0, 1]), 2)).toEqual({ values: [true, false], truncated: true });
  });
});
