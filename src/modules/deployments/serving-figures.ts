// What each version of a deployment's model has answered in its environment, read from serving's
// Prometheus counters (this process's, or the data-plane fleet's merged text): requests, errors and
// the latency histogram, summed over the series of each version. For GET /api/v1/deployments/:id/serving,
// so anyone who may read the deployment sees them (GET /metrics is for platform admins).

/** One version's serving series in one environment. */
interface VersionSeries {
  requests: number;
  errors: number;
  latencyCount: number;
  latencySum: number;
  /** Cumulative latency histogram: upper bound (seconds) → requests at or under it. */
  buckets: Map<number, number>;
}

export interface VersionServingFigures {
  version: string;
  requests: number;
  errors: number;
  /** errors / requests; null before the first request. */
  errorRate: number | null;
  meanMs: number | null;
  p99Ms: number | null;
}

const SERIES = "paved_serving_request";

/** Per version of `model` in `environment`, from Prometheus text exposition. */
export function servingFigures(text: string, model: string, environment: string): VersionServingFigures[] {
  const byVersion = new Map<string, VersionSeries>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(SERIES)) continue;
    const brace = line.indexOf("{");
    if (brace < 0) continue;
    const name = line.slice(0, brace);
    const parsed = readLabels(line, brace + 1);
    if (!parsed || parsed.labels.model !== model || parsed.labels.environment !== environment || parsed.labels.version === undefined) continue;
    const value = Number(line.slice(parsed.end).trim().split(" ")[0]);
    if (!Number.isFinite(value)) continue;
    let v = byVersion.get(parsed.labels.version);
    if (!v) byVersion.set(parsed.labels.version, (v = { requests: 0, errors: 0, latencyCount: 0, latencySum: 0, buckets: new Map() }));
    if (name === "paved_serving_requests_total") v.requests += value;
    else if (name === "paved_serving_request_errors_total") v.errors += value;
    else if (name === "paved_serving_request_duration_seconds_count") v.latencyCount += value;
    else if (name === "paved_serving_request_duration_seconds_sum") v.latencySum += value;
    else if (name === "paved_serving_request_duration_seconds_bucket" && parsed.labels.le !== undefined) {
      const le = parsed.labels.le === "+Inf" ? Infinity : Number(parsed.labels.le);
      v.buckets.set(le, (v.buckets.get(le) ?? 0) + value);
    }
  }
  return [...byVersion.entries()]
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b))
    .map(([version, v]) => {
      const p99 = histogramQuantile(0.99, v.buckets);
      return {
        version,
        requests: v.requests,
        errors: v.errors,
        errorRate: v.requests > 0 ? v.errors / v.requests : null,
        meanMs: v.latencyCount > 0 ? (v.latencySum / v.latencyCount) * 1000 : null,
        p99Ms: p99 === null ? null : p99 * 1000,
      };
    });
}

/** The labels of one sample line (`{a="x",b="y\"z"}`), read from `start` (just after the brace); undefined when malformed. */
function readLabels(line: string, start: number): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start;
  while (i < line.length) {
    if (line[i] === "}") return { labels, end: i + 1 };
    if (line[i] === "," || line[i] === " ") {
      i++;
      continue;
    }
    const eq = line.indexOf("=", i);
    if (eq < 0 || line[eq + 1] !== '"') return undefined;
    const key = line.slice(i, eq);
    let value = "";
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === "\\" && j + 1 < line.length) {
        j++;
        value += line[j] === "n" ? "\n" : line[j];
      } else value += line[j];
    }
    if (j >= line.length) return undefined;
    labels[key] = value;
    i = j + 1;
  }
  return undefined;
}

/** A quantile of a cumulative histogram, interpolated inside its bucket (as Prometheus's histogram_quantile does). */
function histogramQuantile(q: number, buckets: Map<number, number>): number | null {
  const sorted = [...buckets.entries()].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return count === below ? le : lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le;
    below = count;
  }
  return lower;
}
