import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, randomIds, systemClock } from "../../core/index.ts";
import { OnnxRuntime, ServingService, rowScores, type InferRouter, type RoutedOutcome } from "./index.ts";
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
    const seen: [string, string, boolean, string | undefined][] = [];
    let pick: string | undefined = "1";
    const keys: (string | undefined)[] = [];
    const router: InferRouter = {
      pick: (_name, key) => (keys.push(key), pick === undefined ? undefined : { version: pick }),
      observe: (o) => seen.push([o.version, o.role, o.ok, o.key]),
    };
    service.setRouter(router);
    expect((await service.infer("tiny", undefined, request, "user-7")).model_version).toBe("1");
    expect(keys).toEqual(["user-7"]);
    pick = "2";
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
    // A picked version that is not loaded falls back to the default (the latest loaded).
    pick = "9";
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
    // Explicit versions bypass the router and are not reported.
    pick = "2";
    expect((await service.infer("tiny", "1", request)).model_version).toBe("1");
    await expect(service.infer("tiny", undefined, { inputs: [{ ...request.inputs[0]!, name: "wrong" }] })).rejects.toThrow();
    expect(seen).toEqual([["1", "primary", true, "user-7"], ["2", "primary", true, undefined], ["2", "primary", true, undefined], ["2", "primary", false, undefined]]);
    service.setRouter(undefined);
    expect((await service.infer("tiny", undefined, request)).model_version).toBe("2");
  });

  it("sends a shadow copy after answering, reports it with the divergence from the primary, and never returns it", async () => {
    const outcomes: RoutedOutcome[] = [];
    let done!: () => void;
    const shadowSeen = new Promise<void>((resolve) => (done = resolve));
    service.setRouter({
      pick: () => ({ version: "1", shadow: "2" }),
      observe: (o) => {
        outcomes.push(o);
        if (o.role === "shadow") done();
      },
    });
    const response = await service.infer("tiny", undefined, { ...request, id: "req-1" });
    expect(response.model_version).toBe("1");
    await shadowSeen;
    const [primary, shadow] = outcomes;
    expect(primary).toMatchObject({ version: "1", role: "primary", ok: true });
    expect(shadow).toMatchObject({ version: "2", role: "shadow", ok: true });
    // tiny-v2 has other weights than tiny: the outputs differ, and the difference is reported.
    expect(shadow!.divergence).toBeGreaterThan(0);
    expect(rowScores(shadow!.output)).toHaveLength(1);
    service.setRouter(undefined);
  });
});
