import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { OnnxRuntime, ServingService, type InferRouter } from "./index.ts";
import { buildTestModels, type TestModels } from "./test-models.ts";

describe("serving's router registration point", () => {
  const service = new ServingService({ runtimes: [new OnnxRuntime()], dataDir: mkdtempSync(join(tmpdir(), "paved-router-")), clock: systemClock, ids: randomIds, logger: createLogger("silent") });
  let models: TestModels;
  const request = { inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] };

  beforeAll(async () => {
    models = buildTestModels();
    await service.load({ name: "tiny", version: "1", bytes: models.bytes("tiny") });
    await service.load({ name: "tiny", version: "2", bytes: models.bytes("tiny-v2") });
  });
  afterAll(() => service.close());

  it("runs the version the router picks for versionless requests and reports each outcome", async () => {
    const seen: [string, boolean][] = [];
    let pick: string | undefined = "1";
    const router: InferRouter = { pick: () => pick, observe: (_name, version, ok) => seen.push([version, ok]) };
    service.setRouter(router);
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("1");
    pick = "2";
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
    // A picked version that is not loaded falls back to the default (the latest loaded).
    pick = "9";
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
    // Explicit versions bypass the router and are not reported.
    pick = "2";
    expect((await service.infer("tiny", "1", request)).model_version).toBe("1");
    await expect(service.infer("tiny", undefined, { inputs: [{ ...request.inputs[0]!, name: "wrong" }] })).rejects.toThrow();
    expect(seen).toEqual([["1", true], ["2", true], ["2", true], ["2", false]]);
    service.setRouter(undefined);
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
  });
});
