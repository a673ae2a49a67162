import { describe, expect, it } from "vitest";
import { ksStatistic, psi } from "../../core/index.ts";
import { LiveSamples, monitoredKey, sampleRows, type SampleSet } from "../serving/index.ts";
import { MonitorSpec } from "./schema.ts";
import { judgeWindow, prepareReference, type EffectiveThresholds, type PreparedReference } from "./window.ts";
import { WindowsLost, WindowsThread } from "./windows-thread.ts";

// A seeded generator, so each run judges the same rows.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
function normal(random: () => number) {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const thresholds: EffectiveThresholds = { maxErrorRate: 0.05, maxSchemaViolationRate: 0.01, maxMissingRate: 0.01, maxOutOfRangeRate: 0.05, maxPredictionPsi: 0.25, chiSquareAlpha: 0.001, maxPsi: 0.25, maxKsStatistic: 0.3, p99Ms: 1000 };
const spec = MonitorSpec.parse({ windowSeconds: 60, minRows: 200 });

/** Reference: f0 ~ N(0,1), f1 ~ N(5,2), color categorical in {0,1,2} with shares .5/.3/.2. */
function reference(random: () => number) {
  const n = 3000;
  const f0 = new Float64Array(n);
  const f1 = new Float64Array(n);
  const color = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    f0[i] = normal(random);
    f1[i] = 5 + 2 * normal(random);
    const u = random();
    color[i] = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
  }
  return prepareReference(["f0", "f1", "color"], new Map([["f0", f0], ["f1", f1], ["color", color]]));
}

/** A window of live traffic through the serving sampler, as serving records it. */
function traffic(random: () => number, rows: number, shift: { f1?: number; color?: boolean; missing?: number; errors?: number; invalid?: number } = {}): SampleSet {
  const samples = new LiveSamples(random);
  const labels = { model: "m", version: "1", environment: "production" };
  samples.setMonitored([monitoredKey(labels)]);
  for (let i = 0; i < rows; i++) {
    const u = random();
    const color = shift.color ? (u < 0.2 ? 0 : u < 0.4 ? 1 : 2) : u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
    const f0 = i < (shift.missing ?? 0) ? Number.NaN : normal(random);
    const data = Float32Array.from([f0, 5 + (shift.f1 ?? 0) + 2 * normal(random), color]);
    const offer = samples.offer(labels, { name: "x", datatype: "FP32", shape: [1, 3], data });
    samples.answered(labels, offer, [random()], 0.002);
  }
  for (let i = 0; i < (shift.errors ?? 0); i++) samples.failed(labels, "INTERNAL");
  for (let i = 0; i < (shift.invalid ?? 0); i++) samples.failed(labels, "INVALID_INPUT");
  return samples.drain()[0]!;
}

describe("a monitor window", () => {
  it("finds nothing in traffic drawn like the reference", () => {
    const random = rng(1);
    const judged = judgeWindow(reference(random), traffic(random, 1500), spec, thresholds, undefined);
    expect(judged.breaches).toEqual([]);
    expect(judged.status).toBe("ok");
    expect(judged.figures.features.map((f) => [f.feature, f.kind])).toEqual([["f0", "numeric"], ["f1", "numeric"], ["color", "categorical"]]);
    // The first full window becomes the prediction baseline.
    expect(judged.baseline?.length).toBe(1500);
  });

  it("flags the numeric and the categorical feature that moved, and only those", () => {
    const random = rng(2);
    const judged = judgeWindow(reference(random), traffic(random, 1500, { f1: 3, color: true }), spec, thresholds, undefined);
    expect(judged.figures.driftedFeatures).toEqual(["f1", "color"]);
    const f1 = judged.figures.features.find((f) => f.feature === "f1")!;
    expect(f1.psi).toBeGreaterThan(0.25);
    expect(f1.ksStatistic).toBeGreaterThan(0.3);
    const color = judged.figures.features.find((f) => f.feature === "color")!;
    expect(color.chiSquarePValue).toBeLessThan(0.001);
    expect(judged.breaches.filter((b) => b.signal === "drift").map((b) => b.subject)).toEqual(["f1", "color"]);
  });

  it("gives each numeric feature the PSI and KS that psi() and ksStatistic() give its window's values from scratch (the reference is sorted and binned once)", () => {
    const random = rng(4);
    const columns = new Map([["f0", new Float64Array(2000)], ["f1", new Float64Array(2000)]]);
    for (let i = 0; i < 2000; i++) {
      columns.get("f0")![i] = normal(random);
      columns.get("f1")![i] = 5 + 2 * normal(random);
    }
    const prepared = prepareReference(["f0", "f1"], columns);
    // Two windows against the same prepared reference: the second must not see the first's values.
    for (const [shift, missing] of [[1.5, 40], [0, 0]] as const) {
      const batch = traffic(random, 800, { f1: shift, missing });
      const judged = judgeWindow(prepared, batch, spec, { ...thresholds, maxMissingRate: 1 }, undefined);
      const rows = sampleRows(batch);
      for (const [index, name] of ["f0", "f1"].entries()) {
        const values = Array.from({ length: rows.count }, (_, r) => rows.values[r * rows.width + index]!).filter((v) => Number.isFinite(v));
        const figure = judged.figures.features.find((f) => f.feature === name)!;
        expect(figure.rows).toBe(values.length);
        expect(figure.psi).toBe(Math.round(psi(columns.get(name)!, values) * 1e6) / 1e6);
        expect(figure.ksStatistic).toBe(Math.round(ksStatistic(columns.get(name)!, values) * 1e6) / 1e6);
      }
    }
  });

  it("counts missing values, errors and schema violations against their limits", () => {
    const random = rng(3);
    const judged = judgeWindow(reference(random), traffic(random, 500, { missing: 50, errors: 40, invalid: 10 }), spec, thresholds, undefined);
    const signals = judged.breaches.map((b) => `${b.signal}:${b.subject}`);
    expect(signals).toContain("missing_inputs:f0");
    expect(signals).toContain("error_rate:");
    expect(signals).toContain("schema_violations:");
    expect(judged.figures.features[0]!.missingRate).toBeCloseTo(0.1, 5);
  });

  it("does not judge drift on too few rows, and says so", () => {
    const random = rng(4);
    const judged = judgeWindow(reference(random), traffic(random, 50, { f1: 5 }), spec, thresholds, undefined);
    expect(judged.status).not.toBe("ok");
    expect(judged.figures.driftedFeatures).toEqual([]);
    expect(judged.figures.notes.join(" ")).toMatch(/fewer than minRows 200/);
  });

  it("samples only the versions monitors watch", () => {
    const samples = new LiveSamples(rng(7));
    const watched = { model: "m", version: "1", environment: "production" };
    const other = { model: "m", version: "2", environment: "production" };
    samples.setMonitored([monitoredKey(watched)]);
    expect(samples.watches(watched)).toBe(true);
    expect(samples.watches(other)).toBe(false);
    const input = { name: "x", datatype: "FP32" as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, Number.NaN, 6]) };
    samples.answered(watched, samples.offer(watched, input), [0.25, 0.75], 0.001);
    // Batches drained elsewhere of an unwatched version are dropped here too.
    samples.absorb([{ ...samples.drain()[0]!, version: "2" }]);
    expect(samples.drain()).toEqual([]);
    samples.answered(watched, samples.offer(watched, input), [0.25, 0.75], 0.001);
    const [batch] = samples.drain();
    const rows = sampleRows(batch!);
    expect(rows.count).toBe(2);
    expect(Array.from(rows.values)).toEqual([1, 2, 3, 4, Number.NaN, 6]);
    expect(Array.from(rows.scores)).toEqual([0.25, 0.75]);
  });

  it("merges batches drained elsewhere through one reservoir: rows kept whole with their own scores, bounded, evenly", () => {
    const labels = { model: "m", version: "1", environment: "production" };
    const drained = (from: number, rows: number) => {
      const samples = new LiveSamples(rng(from));
      samples.setMonitored([monitoredKey(labels)]);
      for (let i = from; i < from + rows; i++) {
        const data = Float32Array.from([i, i, i]);
        samples.answered(labels, samples.offer(labels, { name: "x", datatype: "FP32", shape: [1, 3], data }), [i / 100_000], 0.001);
      }
      return samples.drain()[0]!;
    };
    const merged = new LiveSamples(rng(7));
    merged.setMonitored([monitoredKey(labels)]);
    // The first fills the reservoir part-way (copied in order), the second fills and then replaces.
    merged.absorb([drained(0, 3000), drained(10_000, 3000)]);
    const [batch] = merged.drain();
    expect(batch!.rowsSeen).toBe(6000);
    expect(batch!.rowsDropped).toBe(2000);
    const rows = sampleRows(batch!);
    expect(rows.count).toBe(4000);
    const firsts = new Set<number>();
    for (let r = 0; r < rows.count; r++) {
      const [a, b, c] = rows.values.subarray(r * 3, r * 3 + 3);
      expect([b, c]).toEqual([a, a]);
      expect(rows.scores[r]).toBeCloseTo(a! / 100_000, 6);
      firsts.add(a!);
    }
    expect(firsts.size).toBe(4000);
    // Each batch held half the rows, so each should hold about half the reservoir (2000 ± 5 sd).
    const fromSecond = [...firsts].filter((v) => v >= 10_000).length;
    expect(Math.abs(fromSecond - 2000)).toBeLessThan(5 * Math.sqrt(4000 * 0.25));
  });

  it("weighs each drained row by the traffic it stands for: a second of 40,000 rows outweighs one of 4,000 in the window", () => {
    const labels = { model: "m", version: "1", environment: "production" };
    const drained = (value: number, rows: number) => {
      const samples = new LiveSamples(rng(value));
      samples.setMonitored([monitoredKey(labels)]);
      for (let i = 0; i < rows; i++) samples.offer(labels, { name: "x", datatype: "FP32", shape: [1, 1], data: Float32Array.from([value]) });
      return samples.drain()[0]!;
    };
    const busy = drained(1, 40_000);
    expect([sampleRows(busy).count, busy.rowsOffered]).toEqual([4000, 40_000]);
    // In either order, the busy second's rows should make up about 40/44 of the window's sample.
    for (const order of [[drained(2, 4000), busy], [busy, drained(2, 4000)]]) {
      const merged = new LiveSamples(rng(9));
      merged.setMonitored([monitoredKey(labels)]);
      merged.absorb(order);
      const [batch] = merged.drain();
      expect(batch!.rowsOffered).toBe(44_000);
      const rows = sampleRows(batch!);
      const share = rows.values.filter((v) => v === 1).length / rows.count;
      expect(share).toBeGreaterThan(0.86);
      expect(share).toBeLessThan(0.96);
    }
  });

  it("starts each period afresh on the buffers it keeps: an answer after a drain scores nothing, a new width is taken, a quiet period drains nothing", () => {
    const labels = { model: "m", version: "1", environment: "production" };
    const samples = new LiveSamples(rng(8));
    samples.setMonitored([monitoredKey(labels)]);
    const input = (width: number, value: number) => ({ name: "x", datatype: "FP32" as const, shape: [1, width], data: new Float32Array(width).fill(value) });
    const pending = samples.offer(labels, input(3, 1));
    samples.answered(labels, samples.offer(labels, input(3, 2)), [0.2], 0.001);
    const [first] = samples.drain();
    expect([first!.requests, sampleRows(first!).count]).toEqual([1, 2]);
    // Answered after the drain took its row: counted in the new period, its score written nowhere.
    samples.answered(labels, pending, [0.9], 0.001);
    samples.answered(labels, samples.offer(labels, input(2, 7)), [0.7], 0.001);
    const [second] = samples.drain();
    const rows = sampleRows(second!);
    expect([second!.requests, second!.width, second!.rowsDropped, rows.count]).toEqual([2, 2, 0, 1]);
    expect([...rows.values, ...rows.scores].map((x) => Math.round(x * 10) / 10)).toEqual([7, 7, 0.7]);
    expect(samples.drain()).toEqual([]);
  });

  it("is idle without traffic", () => {
    const random = rng(5);
    expect(judgeWindow(reference(random), undefined, spec, thresholds, undefined).status).toBe("idle");
  });

  it("keeps a bounded, even sample of a flood and says how much it dropped", () => {
    const random = rng(6);
    const batch = traffic(random, 20_000);
    expect(sampleRows(batch).count).toBe(4000);
    expect(batch.rowsSeen).toBe(20_000);
    expect(batch.rowsDropped).toBe(16_000);
    const judged = judgeWindow(reference(random), batch, spec, thresholds, undefined);
    expect(judged.figures.notes.join(" ")).toMatch(/16000 of 20000 rows were not kept/);
    // An even sample of undrifted traffic is judged undrifted.
    expect(judged.figures.driftedFeatures).toEqual([]);
  });
});

describe("the monitors' thread (WindowsThread)", () => {
  const window = (monitor: string, ref: PreparedReference, baseline: string | null = null) => ({ monitor, key: monitoredKey({ model: "m", version: "1", environment: "production" }), reference: ref, spec, thresholds, baseline, keepRows: true });
  /** What the thread should make of these drains: the same merge and judging, on this thread. */
  function expected(ref: PreparedReference, drains: SampleSet[], baseline: number[] | undefined) {
    const merged = new LiveSamples();
    merged.setMonitored([monitoredKey(drains[0]!)]);
    merged.absorb(drains);
    const batch = merged.drain()[0]!;
    return { batch, judged: judgeWindow(ref, batch, spec, thresholds, baseline) };
  }
  /** A drain's copy (the thread takes the arrays it is given). */
  const copy = (set: SampleSet): SampleSet => ({ ...set, rows: set.rows.slice(), scores: set.scores.slice(), latencies: set.latencies.slice() });

  it("fills a window from several drains and judges it as judgeWindow does", async () => {
    const random = rng(7);
    const ref = reference(random);
    const thread = new WindowsThread();
    try {
      // Two drains that fit one window: merged in order, so the same rows on either thread.
      const drains = [traffic(random, 1500), traffic(random, 1500, { errors: 3 })];
      thread.absorb(drains.map(copy));
      const first = await thread.close(window("mon-1", ref));
      const want = expected(ref, drains, undefined);
      expect(first.judged).toEqual(want.judged);
      expect([first.requests, first.errors, first.rowsSeen, first.rowsKept, first.rowsDropped]).toEqual([3003, 3, 3000, 3000, 0]);
      expect(first.rows?.values).toEqual(sampleRows(want.batch).values);
      expect(first.judged.baseline?.length).toBe(3000);
      // The window was emptied by its close; the next ones drift, judged against the saved baseline.
      const baseline = JSON.stringify(first.judged.baseline);
      for (const shift of [{ f1: 3 }, { color: true }]) {
        const drain = traffic(random, 1500, shift);
        thread.absorb([copy(drain)]);
        const closed = await thread.close(window("mon-1", ref, baseline));
        expect(closed.judged).toEqual(expected(ref, [drain], JSON.parse(baseline) as number[]).judged);
        expect([closed.judged.status, closed.requests]).toEqual(["breach", 1500]);
      }
      // No traffic since: idle, and no rows to keep.
      const idle = await thread.close(window("mon-1", ref, baseline));
      expect([idle.judged.status, idle.requests, idle.rows]).toEqual(["idle", 0, undefined]);
      // Forgotten (the monitor deleted), its window goes; the next close sends the reference again.
      thread.absorb([copy(traffic(random, 100))]);
      thread.forget("mon-1", window("mon-1", ref).key);
      expect((await thread.close(window("mon-1", ref))).judged.status).toBe("idle");
      // Discarded and reset windows are emptied too.
      thread.absorb([copy(traffic(random, 100))]);
      thread.discard(window("mon-1", ref).key);
      thread.absorb([copy(traffic(random, 100))]);
      thread.reset();
      expect((await thread.close(window("mon-1", ref))).requests).toBe(0);
    } finally {
      await thread.stop();
    }
  });

  it("moves the drains' arrays to the thread rather than copying them", async () => {
    const thread = new WindowsThread();
    try {
      const drain = traffic(rng(9), 10);
      thread.absorb([drain]);
      expect([drain.rows.length, drain.scores.length]).toEqual([0, 0]);
      expect((await thread.close(window("mon-1", reference(rng(9))))).rowsKept).toBe(10);
    } finally {
      await thread.stop();
    }
  });

  it("says the windows were lost when its thread stops, in the close in flight or else the next, and starts a new thread", async () => {
    const random = rng(8);
    const ref = reference(random);
    const thread = new WindowsThread();
    try {
      thread.absorb([copy(traffic(random, 1500))]);
      const inFlight = thread.close(window("mon-1", ref));
      await thread.stop();
      await expect(inFlight).rejects.toThrow(WindowsLost);
      await expect(inFlight).rejects.toThrow(/the monitors' thread stopped .*the samples of the windows being filled were lost/);
      // A new thread, which needs the reference again.
      const drain = traffic(random, 1500);
      thread.absorb([copy(drain)]);
      expect((await thread.close(window("mon-1", ref))).judged).toEqual(expected(ref, [drain], undefined).judged);
      // Stopped between two closes: the next close says the windows were lost (a new thread holds
      // only what came since), and the one after is judged again.
      await thread.stop();
      thread.absorb([copy(traffic(random, 100))]);
      await expect(thread.close(window("mon-1", ref))).rejects.toThrow(WindowsLost);
      const after = traffic(random, 1500);
      thread.discard(window("mon-1", ref).key);
      thread.absorb([copy(after)]);
      expect((await thread.close(window("mon-1", ref))).judged).toEqual(expected(ref, [after], undefined).judged);
    } finally {
      await thread.stop();
    }
  });
});
