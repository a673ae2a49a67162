import { describe, expect, it } from "vitest";
import { EnvironmentName, InferRequest, ModelName, isEnvironmentName, isModelName, isPlainInferRequest } from "./schema.ts";

const input = { name: "x", shape: [1, 2], datatype: "FP32", data: [1, 2] };

/** Requests as JSON text: what the infer route parses (JSON.parse makes `__proto__` an own key). */
const CASES = [
  { inputs: [input] },
  { id: "r-1", parameters: { binary_data_output: true }, inputs: [input], outputs: [{ name: "y" }, { name: "z", parameters: { binary_data: true } }] },
  { inputs: [{ name: "x", shape: [], datatype: "BOOL", parameters: { binary_data_size: 1 } }] },
  { inputs: [{ name: "x", shape: [0, 3], datatype: "anything", data: null }] },
  { inputs: [input], outputs: [] },
  { id: "a".repeat(256), inputs: [input] },
  { id: "a".repeat(257), inputs: [input] },
  { id: 7, inputs: [input] },
  { id: null, inputs: [input] },
  { inputs: [] },
  { inputs: {} },
  { inputs: [input], extra: 1 },
  { inputs: [{ ...input, extra: 1 }] },
  { inputs: [input], outputs: [{ name: "y", extra: 1 }] },
  { inputs: [{ ...input, name: "" }] },
  { inputs: [{ ...input, name: 3 }] },
  { inputs: [{ ...input, datatype: undefined }] },
  { inputs: [{ ...input, shape: [1.5] }] },
  { inputs: [{ ...input, shape: [-1] }] },
  { inputs: [{ ...input, shape: [2 ** 60] }] },
  { inputs: [{ ...input, shape: ["1"] }] },
  { inputs: [{ ...input, shape: null }] },
  { inputs: [{ ...input, parameters: [] }] },
  { inputs: [{ ...input, parameters: null }] },
  { inputs: [input], parameters: "x" },
  { inputs: [input], outputs: null },
  { inputs: [input], outputs: [null] },
  { inputs: [input], outputs: [{ parameters: {} }] },
  [{ inputs: [input] }],
  null,
  "text",
].map((c) => JSON.stringify(c));

describe("isPlainInferRequest: InferRequest without zod", () => {
  it("accepts only what InferRequest returns unchanged, and accepts the usual requests", () => {
    const more = ['{"__proto__":{"a":1},"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}', '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"__proto__":{"a":1}}}]}'];
    for (const text of [...CASES, ...more]) {
      const raw: unknown = JSON.parse(text);
      const parsed = InferRequest.safeParse(raw);
      if (isPlainInferRequest(raw)) {
        expect(parsed.success, text).toBe(true);
        expect(parsed.data, text).toStrictEqual(raw);
      } else if (parsed.success) {
        // Refused here but accepted by zod: only when zod changes it (strips a field).
        expect(parsed.data, text).not.toStrictEqual(raw);
      }
    }
    expect(CASES.slice(0, 6).every((text) => isPlainInferRequest(JSON.parse(text)))).toBe(true);
  });

  it("checks names as the zod schemas do", () => {
    for (const name of ["mlp", "M.v-1_2", "1", "", ".x", "-x", "a/b", "a".repeat(128), "a".repeat(129), "staging", "Staging", "st-1", "1st", "a".repeat(63), "a".repeat(64)]) {
      expect(isModelName(name), name).toBe(ModelName.safeParse(name).success);
      expect(isEnvironmentName(name), name).toBe(EnvironmentName.safeParse(name).success);
    }
  });
});
