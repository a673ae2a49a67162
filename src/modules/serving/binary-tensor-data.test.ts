import { describe, expect, it } from "vitest";
import { decodeInferRequest, encodeInferAnswer } from "./binary-tensor-data.ts";
import type { InferRequest } from "./schema.ts";
import { toInputTensors, type ModelSignature } from "./tensor.ts";

const signature: ModelSignature = {
  inputs: [
    { name: "x", datatype: "FP32", shape: [-1, 2] },
    { name: "mask", datatype: "BOOL", shape: [-1] },
  ],
  outputs: [],
};

/** A framed body as the extension's "Binary Tensor Request" example lays it out: JSON, then each binary input's bytes in order. */
function framed(json: object, ...binary: Uint8Array[]): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(JSON.stringify(json));
  return { body: Buffer.concat([header, ...binary]), headers: { "inference-header-content-length": String(header.length) } };
}

const x = new Float32Array([1.5, -2, 3.25, 4]);
const mask = new Uint8Array([1, 0]);
const request = (xSize = 16, maskSize = 2) => ({
  inputs: [
    { name: "x", shape: [2, 2], datatype: "FP32", parameters: { binary_data_size: xSize } },
    { name: "mask", shape: [2], datatype: "BOOL", parameters: { binary_data_size: maskSize } },
  ],
});
const bytes = (a: Float32Array | Uint8Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe("binary tensor data: requests", () => {
  it("takes each binary input's bytes in order, at any offset, into aligned typed arrays", () => {
    // A 1-byte id makes the JSON an odd length: the FP32 bytes start unaligned.
    for (const id of ["a", "ab"]) {
      const { body, headers } = framed({ id, ...request() }, bytes(x), mask);
      const decoded = decodeInferRequest(body, headers);
      const [tx, tmask] = toInputTensors(signature, decoded.inputs);
      expect(Array.from(tx!.data as Float32Array)).toEqual([1.5, -2, 3.25, 4]);
      expect(Array.from(tmask!.data as Uint8Array)).toEqual([1, 0]);
    }
  });

  it("mixes JSON and binary inputs, and reads plain JSON without the header", () => {
    const { body, headers } = framed({ inputs: [request().inputs[0], { name: "mask", shape: [2], datatype: "BOOL", data: [true, false] }] }, bytes(x));
    expect(toInputTensors(signature, decodeInferRequest(body, headers).inputs)).toHaveLength(2);
    const plain = Buffer.from(JSON.stringify({ inputs: [{ name: "x", shape: [1, 2], datatype: "FP32", data: [1, 2] }] }));
    expect(decodeInferRequest(plain, {}).inputs[0]!.data).toEqual([1, 2]);
  });

  it.each([
    ["sizes that add up to less than the body", () => framed(request(16, 1), bytes(x), mask), "binary_size_total"],
    ["sizes that add up to more than the body", () => framed(request(20, 2), bytes(x), mask), "binary_size_total"],
    ["a negative size", () => framed(request(-16, 2), bytes(x), mask), "binary_data_size"],
    ["a size that is not a number", () => framed({ inputs: [{ ...request().inputs[0], parameters: { binary_data_size: "16" } }] }, bytes(x)), "binary_data_size"],
    ["data and a size for one input", () => framed({ inputs: [{ ...request().inputs[0], data: [1, 2, 3, 4] }] }, bytes(x)), "data_and_binary"],
    ["an input with neither", () => framed({ inputs: [{ name: "x", shape: [2, 2], datatype: "FP32" }] }), "missing_data"],
    ["a size without the header", () => ({ body: Buffer.from(JSON.stringify(request())), headers: {} }), "missing_header"],
    ["binary data without the header", () => ({ body: framed(request(), bytes(x), mask).body, headers: {} }), "invalid_json"],
    ["a header length past the body", () => ({ body: Buffer.from("{}"), headers: { "inference-header-content-length": "3" } }), "header_length"],
    ["a header length given twice", () => ({ body: Buffer.from("{}"), headers: { "inference-header-content-length": "2, 2" } }), "header_length"],
    ["a header that is not JSON", () => ({ body: Buffer.from("{}xx"), headers: { "inference-header-content-length": "3" } }), "invalid_json"],
  ])("refuses %s with INVALID_INPUT", (_what, make, reason) => {
    const { body, headers } = make();
    expect(() => decodeInferRequest(body, headers)).toThrow(expect.objectContaining({ code: "INVALID_INPUT", details: expect.objectContaining({ reason }) }));
  });

  it("refuses a size that does not match shape × datatype with INVALID_INPUT once the model's signature is known", () => {
    const { body, headers } = framed({ inputs: [{ name: "x", shape: [1, 2], datatype: "FP32", parameters: { binary_data_size: 16 } }, { name: "mask", shape: [2], datatype: "BOOL", data: [true, true] }] }, bytes(x));
    const decoded = decodeInferRequest(body, headers);
    expect(() => toInputTensors(signature, decoded.inputs)).toThrow(expect.objectContaining({ code: "INVALID_INPUT", details: expect.objectContaining({ reason: "binary_size_mismatch", expected: 8 }) }));
  });

  it.each([
    ["a raw binary request (header length 0)", () => ({ body: Buffer.from(bytes(x)), headers: { "inference-header-content-length": "0" } }), "raw_binary_request"],
    ["a shared-memory input", () => framed({ inputs: [{ name: "x", shape: [2, 2], datatype: "FP32", parameters: { shared_memory_region: "r", shared_memory_byte_size: 16 } }] }), "extension"],
    ["a shared-memory output", () => framed({ ...request(), outputs: [{ name: "y", parameters: { shared_memory_region: "r" } }] }, bytes(x), mask), "extension"],
    ["a classification output", () => framed({ ...request(), outputs: [{ name: "y", parameters: { classification: 2 } }] }, bytes(x), mask), "extension"],
  ])("refuses %s with UNSUPPORTED naming what to send instead", (_what, make, reason) => {
    const { body, headers } = make();
    expect(() => decodeInferRequest(body, headers)).toThrow(expect.objectContaining({ code: "UNSUPPORTED", details: expect.objectContaining({ reason }) }));
  });
});

describe("binary tensor data: answers", () => {
  const result = {
    model_name: "m",
    model_version: "1",
    id: "r",
    outputs: [
      { name: "y", datatype: "FP32" as const, shape: [2], data: new Float32Array([0.5, 2]) },
      { name: "ids", datatype: "INT64" as const, shape: [1], data: new BigInt64Array([2n ** 62n]) },
    ],
  };
  const ask = (extra: Partial<InferRequest>): InferRequest => ({ inputs: [], ...extra });

  it("answers JSON unless an output or the request asks for binary data", () => {
    expect(encodeInferAnswer(result, ask({}))).toMatchObject({ kind: "json", json: { outputs: [{ name: "y", data: [0.5, 2] }, { name: "ids", data: [2 ** 62] }] } });
    expect(encodeInferAnswer(result, ask({ parameters: { binary_data_output: false } })).kind).toBe("json");
  });

  it("writes the JSON header, then the bytes of binary outputs in the order the header lists them", () => {
    const answer = encodeInferAnswer(result, ask({ parameters: { binary_data_output: true }, outputs: [{ name: "y", parameters: { binary_data: false } }, { name: "ids" }] }));
    if (answer.kind !== "binary") throw new Error("expected binary framing");
    const header = JSON.parse(answer.body.subarray(0, answer.headerLength).toString());
    expect(header).toEqual({
      model_name: "m",
      model_version: "1",
      id: "r",
      outputs: [
        { name: "y", datatype: "FP32", shape: [2], data: [0.5, 2] },
        { name: "ids", datatype: "INT64", shape: [1], parameters: { binary_data_size: 8 } },
      ],
    });
    expect(answer.body.subarray(answer.headerLength).readBigInt64LE(0)).toBe(2n ** 62n);
    expect(answer.body.length).toBe(answer.headerLength + 8);
  });
});
