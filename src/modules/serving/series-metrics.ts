// Counters and histograms for the inference path, read by a prom-client Registry as its own are.
// prom-client checks and hashes the label set on every observation, which for the three or four
// series a request touches cost as much as the rest of its bookkeeping. ServingMetrics makes one
// label object per version, output and class and passes that same object every time, so here a
// series is found by the object itself (a WeakMap lookup). What a Registry reads (name, help, type,
// aggregator, get and getForPromString, as prom-client's AggregatorRegistry also registers) is
// exactly what prom-client's Counter and Histogram give for the same observations.
import type { Metric } from "prom-client";

type Labels = Readonly<Record<string, string>>;

/**
 * The series of one metric by label object; objects with the same labels (a version loaded again)
 * share one series, as they share one in prom-client.
 */
class SeriesTable<S extends object> {
  private readonly byObject = new WeakMap<Labels, S>();
  /** By the labels' values in labelNames' order, in creation order (prom-client's export order). */
  private readonly byValues = new Map<string, { labels: Labels; series: S }>();
  /** Series removed since an object found them: the object looks again. */
  private readonly removed = new WeakSet<S>();

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: () => S,
  ) {}

  get(labels: Labels): S {
    const known = this.byObject.get(labels);
    if (known !== undefined && !this.removed.has(known)) return known;
    const key = this.key(labels);
    let entry = this.byValues.get(key);
    if (!entry) this.byValues.set(key, (entry = { labels, series: this.create() }));
    this.byObject.set(labels, entry.series);
    return entry.series;
  }

  entries(): IterableIterator<{ labels: Labels; series: S }> {
    return this.byValues.values();
  }

  remove(labels: Labels): void {
    const key = this.key(labels);
    const entry = this.byValues.get(key);
    if (!entry) return;
    this.byValues.delete(key);
    this.removed.add(entry.series);
  }

  clear(): void {
    for (const { series } of this.byValues.values()) this.removed.add(series);
    this.byValues.clear();
  }

  private key(labels: Labels): string {
    return JSON.stringify(this.labelNames.map((name) => labels[name]));
  }
}

/** A metric as a Registry reads it (prom-client's MetricObjectWithValues, less its `collect`). */
export interface MetricData {
  name: string;
  help: string;
  type: "counter" | "histogram";
  aggregator: "sum";
  values: SeriesValue[];
}

export interface SeriesValue {
  value: number;
  labels: Record<string, string | number>;
  /** A histogram's `_bucket`, `_sum` or `_count`. */
  metricName?: string;
  /** The series' own labels, apart from `le` (the text format's form of a histogram's values). */
  sharedLabels?: Labels;
  exemplar?: null;
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
}

/** What both kinds share: name, help, the series by label object, and a Registry's hooks. */
abstract class SeriesMetric<S extends object> {
  readonly aggregator = "sum" as const;
  readonly name: string;
  readonly help: string;
  protected readonly series: SeriesTable<S>;

  constructor(options: MetricOptions, create: () => S) {
    this.name = options.name;
    this.help = options.help;
    this.series = new SeriesTable(options.labelNames, create);
  }

  remove(labels: Labels): void {
    this.series.remove(labels);
  }

  reset(): void {
    this.series.clear();
  }

  /** As a Registry takes it (its type names prom-client's own classes only). */
  asMetric(): Metric {
    return this as unknown as Metric;
  }
}

/** A counter whose series are found by their label object (see the file's head). */
export class SeriesCounter extends SeriesMetric<{ value: number }> {
  readonly type = "counter" as const;

  constructor(options: MetricOptions) {
    super(options, () => ({ value: 0 }));
  }

  inc(labels: Labels): void {
    this.series.get(labels).value += 1;
  }

  async get(): Promise<MetricData> {
    const values = [...this.series.entries()].map(({ labels, series }) => ({ value: series.value, labels }));
    return { help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator };
  }

}

interface HistogramSeries {
  /** Observations per bucket (not cumulative), by upper bound's index. */
  buckets: number[];
  sum: number;
  count: number;
}

/** A histogram whose series are found by their label object (see the file's head). */
export class SeriesHistogram extends SeriesMetric<HistogramSeries> {
  readonly type = "histogram" as const;
  private readonly upperBounds: readonly number[];

  constructor(options: MetricOptions & { buckets: readonly number[] }) {
    super(options, () => ({ buckets: options.buckets.map(() => 0), sum: 0, count: 0 }));
    this.upperBounds = options.buckets;
  }

  observe(labels: Labels, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    const series = this.series.get(labels);
    const bounds = this.upperBounds;
    // A value above every bound counts only in +Inf (the count), as in prom-client.
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        series.buckets[i]!++;
        break;
      }
    }
    series.sum += value;
    series.count += 1;
  }

  /** Each series' values with its labels apart (`sharedLabels`), as prom-client's Histogram gives them to the text format. */
  async getForPromString(): Promise<MetricData> {
    const bucket = `${this.name}_bucket`;
    const values: SeriesValue[] = [];
    for (const { labels, series } of this.series.entries()) {
      let cumulative = 0;
      this.upperBounds.forEach((bound, i) => {
        cumulative += series.buckets[i]!;
        values.push({ labels: { le: bound }, sharedLabels: labels, value: cumulative, metricName: bucket, exemplar: null });
      });
      values.push(
        { labels: { le: "+Inf" }, sharedLabels: labels, value: series.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: labels, value: series.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: labels, value: series.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Each series' values with its labels and `le` in one object, as prom-client's Histogram gives them (getMetricsAsJSON). */
  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return data;
  }

}
