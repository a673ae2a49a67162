import { describe, expect, it } from "vitest";
import { ServingMetrics } from "./metrics.ts";
import type { Tensor } from "./tensor.ts";

const labels = { model: "m", version: "1", environment: "production" };
const tensor = (shape: number[], values: number[]): Tensor => ({ name: "y", datatype: "FP32", shape, data: Float32Array.from(values) });

function series(text: string, metric: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) if (line.startsWith(`${metric}{`)) out[line.slice(metric.length, line.lastIndexOf(" "))] = Number(line.slice(line.lastIndexOf(" ") + 1));
  return out;
}

describe("ServingMetrics", () => {
  it("counts the arg-max class of every row of a multi-column first output", async () => {
    const metrics = new ServingMetrics();
    metrics.predictions(labels, tensor([3, 3], [0.1, 0.8, 0.1, 0.7, 0.2, 0.1, 0.2, 0.3, 0.5]));
    metrics.predictions(labels, tensor([1, 3], [0.1, 0.8, 0.1]));
    expect(series(await metrics.text(), "paved_serving_predicted_class_total")).toEqual({
      '{model="m",version="1",environment="production",output="y",class="0"}': 1,
      '{model="m",version="1",environment="production",output="y",class="1"}': 2,
      '{model="m",version="1",environment="production",output="y",class="2"}': 1,
    });
  });

  it("observes every value of a single-column first output, skipping non-finite ones", async () => {
    const metrics = new ServingMetrics();
    metrics.predictions(labels, tensor([3, 1], [0.05, 0.95, Number.NaN]));
    metrics.predictions(labels, tensor([1, 1], [0.95]));
    const text = await metrics.text();
    expect(series(text, "paved_serving_prediction_value_count")).toEqual({ '{model="m",version="1",environment="production",output="y"}': 3 });
    expect(series(text, "paved_serving_prediction_value_bucket")['{le="0.1",model="m",version="1",environment="production",output="y"}']).toBe(1);
  });

  it("forgets an unloaded version's series and records them afresh if the version comes back", async () => {
    const metrics = new ServingMetrics();
    metrics.request(labels, 0.001);
    metrics.predictions(labels, tensor([1, 2], [0.2, 0.8]));
    await metrics.forget(labels);
    expect(await metrics.text()).not.toContain('model="m"');
    metrics.predictions(labels, tensor([1, 2], [0.9, 0.1]));
    expect(series(await metrics.text(), "paved_serving_predicted_class_total")).toEqual({ '{model="m",version="1",environment="production",output="y",class="0"}': 1 });
  });

  it("keeps each environment's series apart: forgetting staging's copy of a version keeps production's", async () => {
    const metrics = new ServingMetrics();
    const staging = { ...labels, environment: "staging" };
    metrics.request(labels, 0.001);
    metrics.request(staging, 0.001);
    metrics.request(staging, 0.001);
    expect(series(await metrics.text(), "paved_serving_requests_total")).toEqual({
      '{model="m",version="1",environment="production"}': 1,
      '{model="m",version="1",environment="staging"}': 2,
    });
    await metrics.forget(staging);
    expect(series(await metrics.text(), "paved_serving_requests_total")).toEqual({ '{model="m",version="1",environment="production"}': 1 });
  });
});
