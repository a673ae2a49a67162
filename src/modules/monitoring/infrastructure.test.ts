// The infrastructure metrics read from a real database (both dialects) and a pressure folder laid
// out as Linux's /proc/pressure.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { InfrastructureMetrics } from "./infrastructure.ts";

const NOW = 1_800_000_000_000;
const psi = (someMicros: number, fullMicros: number) =>
  `some avg10=0.00 avg60=0.00 avg300=0.00 total=${someMicros}\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=${fullMicros}\n`;

describe.each(testDialects())("infrastructure metrics (%s)", (dialect) => {
  it("counts the queue and what runs by team and profile, the oldest wait, HTTP answers, and pressure as it grows", async () => {
    const database = await openTestDatabase(dialect);
    const job = (id: string, team: string, phase: string, profile: string | undefined, createdAt: number) => ({
      job_id: id,
      name: id,
      spec: "{}",
      phase,
      priority: 0,
      owner: "ada",
      request: JSON.stringify({ cpus: 1, memoryMiB: 64, gpus: 0, ...(profile ? { profile } : {}) }),
      experiment_id: "0",
      attempt: 1,
      created_at: createdAt,
      updated_at: createdAt,
      team_id: team,
    });
    await database.db
      .insertInto("jobs")
      .values([
        job("a", "vision", "QUEUED", "gpu-small", NOW - 90_000),
        job("b", "vision", "QUEUED", "gpu-small", NOW - 30_000),
        job("c", "vision", "RUNNING", "gpu-small", NOW - 600_000),
        job("d", "nlp", "STARTING", undefined, NOW - 5_000),
        job("e", "nlp", "SUCCEEDED", undefined, NOW - 5_000),
      ])
      .execute();
    const pressure = mkdtempSync(join(tmpdir(), "paved-psi-"));
    writeFileSync(join(pressure, "memory"), psi(2_000_000, 500_000));
    // /proc/stat's layout: the machine's line, then one per CPU (USER_HZ ticks: user nice system idle iowait irq softirq steal).
    const stat = join(pressure, "stat");
    writeFileSync(stat, "cpu  300 0 100 1000 0 0 0 0 0 0\ncpu0 200 0 50 500 0 0 0 0 0 0\ncpu1 100 0 50 500 0 0 0 0 0 0\nintr 1\n");
    const metrics = new InfrastructureMetrics({ db: database.db, clock: { now: () => NOW }, gpus: async () => [], pressureDir: pressure, statFile: stat });
    const text = await metrics.registry.metrics();
    expect(text).toContain('paved_queue_depth{team="vision",profile="gpu-small"} 2');
    expect(text).toContain('paved_queue_oldest_wait_seconds{team="vision",profile="gpu-small"} 90');
    expect(text).toContain('paved_jobs_running{team="vision",profile="gpu-small"} 1');
    expect(text).toContain('paved_jobs_running{team="nlp",profile="none"} 1');
    expect(text).not.toContain('team="nlp",profile="none"} 2');
    expect(text).toMatch(/^node_pressure_memory_waiting_seconds_total 2$/m);
    expect(text).toMatch(/^node_pressure_memory_stalled_seconds_total 0\.5$/m);
    // No cpu or io file here: those counters stay at zero; the kernel's totals only ever grow, so the counters add the growth.
    expect(text).toMatch(/^node_pressure_io_waiting_seconds_total 0$/m);
    expect(text).toMatch(/^node_cpu_seconds_total\{cpu="0",mode="user"\} 2$/m);
    expect(text).toMatch(/^node_cpu_seconds_total\{cpu="1",mode="idle"\} 5$/m);
    expect(text).not.toMatch(/cpu="",/);
    writeFileSync(stat, "cpu  450 0 100 1000 0 0 0 0 0 0\ncpu0 350 0 50 500 0 0 0 0 0 0\ncpu1 100 0 50 500 0 0 0 0 0 0\n");
    writeFileSync(join(pressure, "memory"), psi(3_500_000, 500_000));
    await new Promise((r) => setTimeout(r, 1_100));
    const later = await metrics.registry.metrics();
    expect(later).toMatch(/^node_pressure_memory_waiting_seconds_total 3\.5$/m);
    expect(later).toMatch(/^node_pressure_available 1$/m);
    // The CPU counter grows by what the kernel's totals grew by, in the same scrape.
    expect(later).toMatch(/^node_cpu_seconds_total\{cpu="0",mode="user"\} 3\.5$/m);
    // No GPUs: the DCGM families are there, with no series.
    expect(later).toContain("# TYPE DCGM_FI_DEV_GPU_UTIL gauge");
    expect(later).not.toMatch(/^DCGM_FI_DEV_GPU_UTIL\{/m);
    metrics.http("GET", "/api/v1/jobs/:id", 200, 0.004);
    metrics.http("GET", "unmatched", 404, 0.001);
    metrics.tracked(1000, 3, 2);
    metrics.tracked(500, 0, 0);
    metrics.jobStarted("vision", "gpu-small", 42);
    const http = await metrics.registry.metrics();
    expect(http).toContain('paved_tracking_ingested_total{kind="metric"} 1500');
    expect(http).toContain('paved_tracking_ingested_total{kind="param"} 3');
    expect(http).toContain('paved_queue_wait_seconds_bucket{le="60",team="vision",profile="gpu-small"} 1');
    expect(http).toContain('paved_queue_wait_seconds_bucket{le="15",team="vision",profile="gpu-small"} 0');
    expect(http).toContain('paved_http_requests_total{method="GET",route="/api/v1/jobs/:id",status="200"} 1');
    expect(http).toContain('paved_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    await database.close();
  });
});
