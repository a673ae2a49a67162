import { describe, expect, it } from "vitest";
import { parseSource } from "./source.ts";

describe("parseSource", () => {
  it("accepts runs:/, models:/ and mlflow-artifacts:/ sources", () => {
    expect(parseSource("runs:/abc123/model")).toEqual({ kind: "run", runId: "abc123", path: "model" });
    expect(parseSource("runs:/abc123")).toEqual({ kind: "run", runId: "abc123", path: "" });
    expect(parseSource("models:/churn/3")).toEqual({ kind: "version", name: "churn", version: 3 });
    const id = `m-${"a".repeat(32)}`;
    expect(parseSource(`models:/${id}`)).toEqual({ kind: "logged-model", modelId: id, path: "" });
    expect(parseSource("mlflow-artifacts:/7/abc123/artifacts/model/")).toEqual({ kind: "run", runId: "abc123", experimentId: "7", path: "model" });
    expect(parseSource(`mlflow-artifacts:/7/models/${id}/artifacts`)).toEqual({ kind: "logged-model", modelId: id, experimentId: "7", path: "" });
  });

  it.each([
    "file:///etc/passwd",
    "http://example.com/model.onnx",
    "https://example.com/model.onnx",
    "s3://bucket/model",
    "runs://host/abc/model",
    "mlflow-artifacts://evil.example/0/abc/artifacts/model",
    "runs:/abc/../other/model",
    "runs:/abc/model#frag",
    "runs:/abc/model?x=1",
    "runs:/abc/mo\\del",
    "models:/churn/latest",
    "mlflow-artifacts:/0/abc/elsewhere/model",
    "/abs/path",
    "",
  ])("rejects %s with INVALID_INPUT", (source) => {
    expect(() => parseSource(source)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});
