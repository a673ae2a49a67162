import type { CheckResult } from "../schema.ts";
import { figure } from "./quality.ts";

type PerformancePolicy = { p50Ms?: number | undefined; p95Ms?: number | undefined; p99Ms?: number | undefined; minThroughput?: number | undefined };

/** Latency percentiles (nearest rank) of batch-1 requests and their throughput. */
export function latencyFigures(latenciesMs: number[], totalMs: number): { p50Ms: number; p95Ms: number; p99Ms: number; throughput: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
  return { p50Ms: at(50), p95Ms: at(95), p99Ms: at(99), throughput: totalMs > 0 ? (latenciesMs.length * 1000) / totalMs : Number.NaN };
}

export function performanceCheck(check: PerformancePolicy, measured: ReturnType<typeof latencyFigures> & { requests: number }): CheckResult {
  const problems: string[] = [];
  for (const key of ["p50Ms", "p95Ms", "p99Ms"] as const) {
    const limit = check[key];
    if (limit !== undefined && !(measured[key] <= limit)) problems.push(`${key} ${figure(measured[key])} exceeds ${limit}`);
  }
  if (check.minThroughput !== undefined && !(measured.throughput >= check.minThroughput)) {
    problems.push(`throughput ${figure(measured.throughput)}/s is below ${check.minThroughput}/s`);
  }
  return {
    type: "performance",
    name: "performance:latency",
    passed: problems.length === 0,
    figures: { p50Ms: figure(measured.p50Ms), p95Ms: figure(measured.p95Ms), p99Ms: figure(measured.p99Ms), throughput: figure(measured.throughput), requests: measured.requests },
    thresholds: { p50Ms: check.p50Ms ?? null, p95Ms: check.p95Ms ?? null, p99Ms: check.p99Ms ?? null, minThroughput: check.minThroughput ?? null },
    hint: problems.length ? `${problems.join("; ")} (batch-1 requests on the serving runtime). Shrink or quantize the model, or relax the policy if the budget is wrong.` : null,
  };
}
