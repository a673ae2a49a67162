import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { ServingService, type ServingRuntime } from "./index.ts";

/** A runtime that loads anything and answers nothing: only what is loaded where matters here. */
const runtime: ServingRuntime = {
  kind: "onnx",
  platform: "onnxruntime",
  capabilities: new Set(["cpu"]),
  load: async () => ({ runtime: "onnx", id: "h" }),
  metadata: () => ({ inputs: [{ name: "x", datatype: "FP32", shape: [-1, 1] }], outputs: [{ name: "y", datatype: "FP32", shape: [-1, 1] }] }),
  infer: async () => [],
  resize: async () => undefined,
  stats: () => ({ replicas: 1, busy: 0, queued: 0 }),
  unload: async () => undefined,
  close: async () => undefined,
};

describe("ServingService.endpointResource", () => {
  const service = new ServingService({ runtimes: [runtime], dataDir: mkdtempSync(join(tmpdir(), "paved-endpoint-")), clock: systemClock, ids: randomIds, logger: createLogger("silent") });
  afterAll(() => service.close());

  it("follows what is loaded (it is kept between requests): the team serving there now, or none", async () => {
    const bytes = new Uint8Array(1);
    expect(service.endpointResource("m").team).toBeUndefined();
    await service.load({ name: "m", version: "1", bytes, team: "alpha" });
    expect(service.endpointResource("m")).toMatchObject({ kind: "endpoint", id: "m", team: "alpha" });
    expect(service.endpointResource("m", "staging").team).toBeUndefined();
    await service.load({ name: "m", version: "1", bytes, team: "beta", environment: "staging" });
    expect(service.endpointResource("m", "staging").team).toBe("beta");
    await service.unload("m", "1");
    expect(service.endpointResource("m").team).toBeUndefined();
    expect(service.endpointResource("m").notFound?.()).toMatchObject({ code: "NOT_FOUND" });
    await service.load({ name: "m", version: "2", bytes, team: "gamma" });
    expect(service.endpointResource("m").team).toBe("gamma");
    expect(service.endpointResource("m", "staging").team).toBe("beta");
  });
});
