import { describe, expect, it } from "vitest";
import { exportLinearOnnx } from "../../../test/support/onnx.ts";
import { readOnnxSignature } from "./onnx-signature.ts";

describe("readOnnxSignature", () => {
  it("reads names, element types and shapes of a torch-exported model", () => {
    expect(readOnnxSignature(exportLinearOnnx(), "model.onnx")).toEqual({
      file: "model.onnx",
      inputs: [{ name: "features", type: "float32", shape: ["batch", 4] }],
      outputs: [{ name: "scores", type: "float32", shape: ["batch", 2] }],
    });
  });

  it("rejects bytes that are not an ONNX model", () => {
    expect(() => readOnnxSignature(Buffer.from("not a model at all"), "x.onnx")).toThrow();
    expect(() => readOnnxSignature(Buffer.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f]), "x.onnx")).toThrow();
    expect(() => readOnnxSignature(Buffer.alloc(0), "x.onnx")).toThrow();
  });
});
