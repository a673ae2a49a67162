// Prometheus metrics of the serving module, in a Registry it owns (exported at /metrics).
import { Counter, Gauge, Registry } from "prom-client";
import { SeriesCounter, SeriesHistogram } from "./series-metrics.ts";
import type { Tensor } from "./tensor.ts";

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const PREDICTION_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 5, 10, 100, 1000];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
/** Above this many columns the first output is not treated as class scores (label cardinality). */
const MAX_CLASSES = 100;

/** One loaded version in one environment: every series carries all three. */
type Labels = { model: string; version: string; environment: string };

export class ServingMetrics {
  readonly registry = new Registry();
  // The series every request touches are SeriesCounter and SeriesHistogram (found by label object,
  // not hashed per call); the rare ones stay prom-client's. Registered in this order (/metrics' order).
  private readonly requests = registered(this.registry, new SeriesCounter({ name: "paved_serving_requests_total", help: "Inference requests answered, by model version", labelNames: ["model", "version", "environment"] }));
  private readonly errors = new Counter({ name: "paved_serving_request_errors_total", help: "Inference requests that failed, by error code", labelNames: ["model", "version", "environment", "code"], registers: [this.registry] });
  private readonly latency = registered(this.registry, new SeriesHistogram({ name: "paved_serving_request_duration_seconds", help: "Inference latency inside the server (validation, queue, run, outputs)", labelNames: ["model", "version", "environment"], buckets: LATENCY_BUCKETS }));
  private readonly batches = registered(this.registry, new SeriesCounter({ name: "paved_serving_batches_total", help: "Model runs (one run may hold several batched requests)", labelNames: ["model", "version", "environment"] }));
  private readonly batchRequests = registered(this.registry, new SeriesHistogram({ name: "paved_serving_batch_requests", help: "Requests per model run", labelNames: ["model", "version", "environment"], buckets: BATCH_BUCKETS }));
  private readonly predictionValues = registered(this.registry, new SeriesHistogram({ name: "paved_serving_prediction_value", help: "Values of the first output (single-column outputs)", labelNames: ["model", "version", "environment", "output"], buckets: PREDICTION_BUCKETS }));
  private readonly predictedClasses = registered(this.registry, new SeriesCounter({ name: "paved_serving_predicted_class_total", help: "Arg-max class of each row of the first output (multi-column outputs)", labelNames: ["model", "version", "environment", "output", "class"] }));
  private readonly replicaCount = new Gauge({ name: "paved_serving_replicas", help: "Replicas (worker threads) running the model version", labelNames: ["model", "version", "environment"], registers: [this.registry] });
  private readonly shadowsDropped = new Counter({ name: "paved_serving_shadow_dropped_total", help: "Shadow copies not sent because too many were in flight", labelNames: ["model", "version", "environment"], registers: [this.registry] });

  // Label objects per version, output and class, made once: building and checking a label set on
  // every request cost more than the observation itself.
  private readonly outputLabels = new WeakMap<Labels, Map<string, Labels & { output: string }>>();
  private readonly classLabels = new WeakMap<Labels & { output: string }, (Labels & { output: string; class: string })[]>();

  request(labels: Labels, seconds: number): void {
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  error(labels: Labels, code: string): void {
    this.requests.inc(labels);
    this.errors.inc({ ...labels, code });
  }

  replicas(labels: Labels, count: number): void {
    this.replicaCount.set(labels, count);
  }

  shadowDropped(labels: Labels): void {
    this.shadowsDropped.inc(labels);
  }

  batch(labels: Labels, requests: number): void {
    this.batches.inc(labels);
    this.batchRequests.observe(labels, requests);
  }

  /** Records the distribution of the first output: arg-max classes for [rows, k>1], values otherwise. */
  predictions(labels: Labels, output: Tensor | undefined): void {
    if (!output || output.datatype === "BOOL") return;
    const data = output.data;
    const values: ArrayLike<number> = data instanceof BigInt64Array || data instanceof BigUint64Array ? Array.from(data, Number) : data;
    const columns = output.shape.length === 2 ? output.shape[1]! : 1;
    if (columns > 1 && columns <= MAX_CLASSES) {
      const perClass = this.perClass(this.perOutput(labels, output.name));
      for (let start = 0; start + columns <= values.length; start += columns) {
        let best = 0;
        for (let c = 1; c < columns; c++) if (values[start + c]! > values[start + best]!) best = c;
        this.predictedClasses.inc((perClass[best] ??= { ...perClass[0]!, class: String(best) }));
      }
    } else if (columns === 1) {
      const series = this.perOutput(labels, output.name);
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (Number.isFinite(v)) this.predictionValues.observe(series, v);
      }
    }
  }

  private perOutput(labels: Labels, output: string): Labels & { output: string } {
    let byOutput = this.outputLabels.get(labels);
    if (!byOutput) this.outputLabels.set(labels, (byOutput = new Map()));
    let series = byOutput.get(output);
    if (!series) byOutput.set(output, (series = { model: labels.model, version: labels.version, environment: labels.environment, output }));
    return series;
  }

  private perClass(series: Labels & { output: string }): (Labels & { output: string; class: string })[] {
    let classes = this.classLabels.get(series);
    if (!classes) this.classLabels.set(series, (classes = [{ ...series, class: "0" }]));
    return classes;
  }

  /** Forgets an unloaded version's series so /metrics does not grow with every rollout. */
  async forget(labels: Labels): Promise<void> {
    const all: Forgettable[] = [this.requests, this.errors, this.latency, this.batches, this.batchRequests, this.predictionValues, this.predictedClasses, this.replicaCount, this.shadowsDropped];
    for (const metric of all) {
      const { values } = await metric.get();
      const seen = new Set<string>();
      for (const { labels: series } of values) {
        if (series.model !== labels.model || series.version !== labels.version || series.environment !== labels.environment) continue;
        // Histograms list each bucket; `le` is not one of the metric's own labels.
        const { le: _le, ...own } = series as Record<string, string | number>;
        const key = JSON.stringify(own);
        if (seen.has(key)) continue;
        seen.add(key);
        metric.remove(own);
      }
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** What forget needs of every metric, prom-client's and the series ones alike. */
interface Forgettable {
  get(): Promise<{ values: { labels: Record<string, string | number | undefined> }[] }>;
  remove(labels: Record<string, string | number>): void;
}

function registered<M extends SeriesCounter | SeriesHistogram>(registry: Registry, metric: M): M {
  registry.registerMetric(metric.asMetric());
  return metric;
}
