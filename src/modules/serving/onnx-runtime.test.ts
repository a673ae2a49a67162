import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxRuntime } from "./onnx-runtime.ts";
import { servingRuntimeContract } from "./serving-runtime.contract.ts";
import { toInputTensors, toJsonData, type Tensor } from "./tensor.ts";
import { buildTestModels, type TestModels } from "./test-models.ts";

let models: TestModels;
beforeAll(() => {
  models = buildTestModels();
});

servingRuntimeContract("onnx", () => new OnnxRuntime(), () => models);
servingRuntimeContract("onnx, small requests inline", () => new OnnxRuntime({ inlineBelowMs: 0.5 }), () => models);

describe("OnnxRuntime: inline for a tiny model, workers for a slow one", () => {
  const runtime = new OnnxRuntime({ inlineBelowMs: 0.5 });
  afterAll(() => runtime.close());
  const one = (name: string, value: number[], features: number) => toInputTensors({ inputs: [{ name, datatype: "FP32", shape: [-1, features] }], outputs: [] }, [{ name, datatype: "FP32", shape: [1, features], data: [value] }]);

  it("a model whose run is tiny answers small requests on the calling thread, exactly as its workers would", async () => {
    const tiny = await runtime.load(models.bytes("tiny"), { replicas: 1, maxBatch: 64 });
    expect(runtime.stats(tiny).inline).toBe(true);
    const rows = models.expected.tiny.input as number[][];
    const want = models.expected.tiny.probabilities as number[][];
    for (let i = 0; i < 5; i++) toJsonData((await runtime.infer(tiny, one("input", rows[i]!, 4)))[0]!).forEach((v, k) => expect(v).toBeCloseTo(want[i]![k]!, 5));
    // 40 rows do not fit the budget: they run on a worker, with the same answers.
    const all = toInputTensors({ inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }], outputs: [] }, [{ name: "input", datatype: "FP32", shape: [40, 4], data: rows }]);
    toJsonData((await runtime.infer(tiny, all))[0]!).forEach((v, k) => expect(v).toBeCloseTo(want.flat()[k]!, 5));
    await runtime.unload(tiny);
  });

  it("a slow model (tens of ms per row) runs on workers: a tiny model's request sent while it runs is answered first", async () => {
    const [slow, tiny] = await Promise.all([runtime.load(models.bytes("slow"), { replicas: 1, maxBatch: 64 }), runtime.load(models.bytes("tiny"), { replicas: 1, maxBatch: 64 })]);
    expect(runtime.stats(slow).inline).toBeUndefined();
    const order: string[] = [];
    const slowRuns = [0, 1].map(async (i) => {
      const out = await runtime.infer(slow, one("x", [(models.expected.slow.x as number[][])[i]![0]!], 1));
      order.push(`slow ${i}`);
      return out;
    });
    await runtime.infer(tiny, one("input", [0.1, 0.2, 0.3, 0.4], 4)).then(() => order.push("tiny"));
    const outputs = await Promise.all(slowRuns);
    // Had the slow model run on this thread, the tiny request could not have ended before it.
    expect(order).toEqual(["tiny", "slow 0", "slow 1"]);
    outputs.forEach((out, i) => expect(toJsonData(out[0]!)[0]).toBeCloseTo((models.expected.slow.y as number[][])[i]![0]!, 4));
    await Promise.all([runtime.unload(slow), runtime.unload(tiny)]);
  });
});

describe("OnnxRuntime", () => {
  const runtime = new OnnxRuntime();
  afterAll(() => runtime.close());

  const row = (i: number) => (models.expected.tiny.input as number[][])[i]!;
  const request = (rows: number[][]) => toInputTensors({ inputs: [{ name: "input", datatype: "FP32", shape: [-1, 4] }], outputs: [] }, [{ name: "input", datatype: "FP32", shape: [rows.length, 4], data: rows }]);
  const values = (outputs: Tensor[]) => toJsonData(outputs[0]!);

  it("batches concurrent requests and answers each exactly as when run one at a time", async () => {
    const batches: number[] = [];
    const handle = await runtime.load(models.bytes("tiny"), { replicas: 2, maxBatch: 64, onBatch: (requests) => batches.push(requests) });
    const sequential: (number[] | boolean[])[] = [];
    for (let i = 0; i < 32; i++) sequential.push(values(await runtime.infer(handle, request([row(i)]))));
    batches.length = 0;
    // Mixed row counts: requests of 1 and 2 rows share batches and are split back correctly.
    const concurrent = await Promise.all(Array.from({ length: 32 }, (_, i) => runtime.infer(handle, request(i % 2 ? [row(i), row(i)] : [row(i)]))));
    concurrent.forEach((outputs, i) => {
      const want = i % 2 ? [...sequential[i]!, ...sequential[i]!] : sequential[i]!;
      expect(outputs[0]!.shape).toEqual([i % 2 ? 2 : 1, 2]);
      values(outputs).forEach((v, k) => expect(v).toBeCloseTo(want[k] as number, 6));
    });
    expect(batches.reduce((a, b) => a + b, 0)).toBe(32);
    expect(batches.length).toBeLessThan(32);
    await runtime.unload(handle);
  });

  it("runs fixed-shape models one request per run", async () => {
    const batches: number[] = [];
    const handle = await runtime.load(models.bytes("fixed"), { replicas: 1, maxBatch: 64, onBatch: (requests) => batches.push(requests) });
    expect(runtime.metadata(handle).inputs).toEqual([{ name: "x", datatype: "FP32", shape: [2, 3] }]);
    const x = models.expected.fixed.x as number[][];
    const inputs = () => toInputTensors(runtime.metadata(handle), [{ name: "x", datatype: "FP32", shape: [2, 3], data: x }]);
    const results = await Promise.all(Array.from({ length: 8 }, () => runtime.infer(handle, inputs())));
    for (const outputs of results) toJsonData(outputs[0]!).forEach((v, i) => expect(v).toBeCloseTo((models.expected.fixed.y as number[])[i]!, 5));
    expect(batches).toEqual(Array(8).fill(1));
    await runtime.unload(handle);
  });

  it("grows and shrinks a model's replicas, answering every request queued across the resize", async () => {
    const handle = await runtime.load(models.bytes("tiny"), { replicas: 1, maxBatch: 1 });
    const want = (i: number) => (models.expected.tiny.probabilities as number[][])[i]!;
    const check = (outputs: Tensor[], i: number) => values(outputs).forEach((v, k) => expect(v).toBeCloseTo(want(i)[k]!, 5));

    // Submitting is synchronous: the first request goes to the only worker, the rest wait.
    const first = Array.from({ length: 20 }, (_, i) => runtime.infer(handle, request([row(i)])));
    expect(runtime.stats(handle)).toEqual({ replicas: 1, busy: 1, queued: 19 });
    await runtime.resize(handle, 3);
    expect(runtime.stats(handle).replicas).toBe(3);
    (await Promise.all(first)).forEach(check);
    expect(runtime.stats(handle)).toEqual({ replicas: 3, busy: 0, queued: 0 });

    // Shrink while every worker is busy and requests wait: the retired workers finish their run,
    // the queue drains through the one that stays.
    const second = Array.from({ length: 30 }, (_, i) => runtime.infer(handle, request([row(i)])));
    expect(runtime.stats(handle)).toMatchObject({ replicas: 3, busy: 3, queued: 27 });
    await runtime.resize(handle, 1);
    expect(runtime.stats(handle).replicas).toBe(1);
    const settled = await Promise.allSettled(second);
    expect(settled.filter((s) => s.status === "rejected")).toEqual([]);
    settled.forEach((s, i) => check((s as PromiseFulfilledResult<Tensor[]>).value, i));
    expect(runtime.stats(handle)).toEqual({ replicas: 1, busy: 0, queued: 0 });
    await runtime.unload(handle);
  });

  it("retires idle replicas first and lets a busy one finish its run", async () => {
    const handle = await runtime.load(models.bytes("tiny"), { replicas: 3, maxBatch: 64 });
    const running = runtime.infer(handle, request([row(0)]));
    expect(runtime.stats(handle)).toEqual({ replicas: 3, busy: 1, queued: 0 });
    // Two idle workers are enough: the shrink does not wait for the busy one.
    await runtime.resize(handle, 1);
    expect(runtime.stats(handle).replicas).toBe(1);
    values(await running).forEach((v, k) => expect(v).toBeCloseTo((models.expected.tiny.probabilities as number[][])[0]![k]!, 5));
    await runtime.unload(handle);
  });

  it("runs resizes one after another and refuses a replica count below one", async () => {
    const handle = await runtime.load(models.bytes("tiny"), { replicas: 1, maxBatch: 8 });
    await Promise.all([runtime.resize(handle, 2), runtime.resize(handle, 4), runtime.resize(handle, 2)]);
    expect(runtime.stats(handle).replicas).toBe(2);
    await expect(runtime.resize(handle, 0)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(runtime.resize(handle, 1.5)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect(runtime.stats(handle).replicas).toBe(2);
    await runtime.unload(handle);
    await expect(runtime.resize(handle, 2)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(() => runtime.stats(handle)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
  });

  it("finishes queued requests before an unload stops the workers", async () => {
    const handle = await runtime.load(models.bytes("tiny"), { replicas: 1, maxBatch: 4 });
    const pending = Array.from({ length: 20 }, (_, i) => runtime.infer(handle, request([row(i)])));
    await runtime.unload(handle);
    const settled = await Promise.allSettled(pending);
    expect(settled.every((s) => s.status === "fulfilled")).toBe(true);
    await expect(runtime.infer(handle, request([row(0)]))).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses requests beyond maxQueuedPerVersion with UNAVAILABLE instead of queueing them", async () => {
    const bounded = new OnnxRuntime({ maxQueuedPerVersion: 3 });
    try {
      const handle = await bounded.load(models.bytes("tiny"), { replicas: 1, maxBatch: 64 });
      // One runs at once, three wait, the other six are refused before taking memory.
      const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => bounded.infer(handle, request([row(i)]))));
      expect(settled.filter((s) => s.status === "fulfilled")).toHaveLength(4);
      const refused = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
      expect(refused.map((s) => (s.reason as { code: string }).code)).toEqual(Array(6).fill("UNAVAILABLE"));
      expect(refused[0]!.reason).toMatchObject({ details: { limit: 3, setting: "serving.maxQueuedRequests" } });
      // Once the queue drained, requests are taken again.
      expect(values(await bounded.infer(handle, request([row(0)])))).toHaveLength(2);
    } finally {
      await bounded.close();
    }
  });
});
