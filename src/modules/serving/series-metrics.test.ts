import { AggregatorRegistry, Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { SeriesCounter, SeriesHistogram } from "./series-metrics.ts";

const labelNames = ["model", "version", "environment"];
const buckets = [0.001, 0.01, 0.1, 1];

/** The same metrics twice: prom-client's, and the series ones, each in its own registry. */
function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new SeriesCounter({ name: "c_total", help: "a counter", labelNames });
  const histogram = new SeriesHistogram({ name: "h_seconds", help: "a histogram", labelNames, buckets });
  ours.registerMetric(counter.asMetric());
  ours.registerMetric(histogram.asMetric());
  const promCounter = new Counter({ name: "c_total", help: "a counter", labelNames, registers: [theirs] });
  const promHistogram = new Histogram({ name: "h_seconds", help: "a histogram", labelNames, buckets, registers: [theirs] });
  return {
    ours,
    theirs,
    record(labels: Record<string, string>, value: number) {
      counter.inc(labels);
      histogram.observe(labels, value);
      promCounter.inc(labels);
      promHistogram.observe(labels, value);
    },
    remove(labels: Record<string, string>) {
      counter.remove(labels);
      histogram.remove(labels);
      promCounter.remove(labels);
      promHistogram.remove(labels);
    },
  };
}

async function expectSame(ours: Registry, theirs: Registry): Promise<void> {
  expect(await ours.metrics()).toBe(await theirs.metrics());
  const [a, b] = [await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON()];
  expect(JSON.parse(JSON.stringify(a))).toEqual(JSON.parse(JSON.stringify(b)));
  // As the control plane adds up its data-plane processes' metrics.
  expect(await AggregatorRegistry.aggregate([a, a]).metrics()).toBe(await AggregatorRegistry.aggregate([b, b]).metrics());
}

describe("SeriesCounter and SeriesHistogram", () => {
  it("give a Registry what prom-client's Counter and Histogram give for the same observations", async () => {
    const { ours, theirs, record, remove } = pair();
    const production = { model: "m", version: "1", environment: "production" };
    const staging = { model: "m", version: "1", environment: "staging" };
    await expectSame(ours, theirs);
    for (const value of [0.0005, 0.001, 0.002, 0.5, 1, 7, 0]) record(production, value);
    record(staging, 0.02);
    // Another object with the same labels (a version loaded again) is the same series.
    record({ ...production }, 0.003);
    await expectSame(ours, theirs);
    remove(production);
    await expectSame(ours, theirs);
    // Recorded afresh after its removal, through the object that made it first.
    record(production, 0.04);
    await expectSame(ours, theirs);
    expect(await ours.metrics()).toContain('c_total{model="m",version="1",environment="production"} 1');
  });

  it("refuses a value that is not a number, as prom-client does", () => {
    const histogram = new SeriesHistogram({ name: "h", help: "h", labelNames, buckets });
    expect(() => histogram.observe({ model: "m", version: "1", environment: "production" }, Number.NaN)).toThrow(TypeError);
  });
});
