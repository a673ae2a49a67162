import { describe, expect, it } from "vitest";
import { renderGeneric } from "./compute.ts";

describe("renderGeneric", () => {
  it("prints scalars as fields, nested objects as sections and lists of objects as tables", () => {
    const out = renderGeneric({
      total: { gpus: 2, memoryMiB: 4096 },
      gpus: [{ index: 0, name: "A100", heldBy: { jobId: "job-1", name: "hog" } }, { index: 1, name: "A100", heldBy: null }],
    });
    expect(out).toBe(
      [
        "total:",
        "  gpus:    2",
        "  memory:  4Gi",
        "",
        "gpus:",
        "INDEX  NAME  HELD BY",
        "0      A100  job id=job-1 name=hog",
        "1      A100  -",
        "",
      ].join("\n"),
    );
  });
});
