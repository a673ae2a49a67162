import { readFileSync, readdirSync } from "node:fs";
import { cpus, freemem, totalmem } from "node:os";
import { queryGpus } from "./gpu-discovery.ts";

export interface SystemSample {
  cpuUtilizationPercent: number;
  memoryUsageMegabytes: number;
  /** By physical GPU index; absent when GPUs are not discovered through nvidia-smi. */
  gpus: Map<number, { utilizationPercent: number | null; memoryUsedMiB: number | null }>;
}

/** Samples machine-wide CPU, memory and (with nvidia-smi) GPU use, the way MLflow's system metrics do. */
export class SystemSampler {
  private last = cpuTimes();

  constructor(
    private readonly nvidiaSmi: string | undefined,
    private readonly env: Record<string, string> = {},
  ) {}

  async sample(): Promise<SystemSample> {
    const now = cpuTimes();
    const busy = now.busy - this.last.busy;
    const total = now.total - this.last.total;
    this.last = now;
    const gpus = new Map<number, { utilizationPercent: number | null; memoryUsedMiB: number | null }>();
    if (this.nvidiaSmi) {
      for (const g of await queryGpus(this.nvidiaSmi, this.env)) gpus.set(g.index, { utilizationPercent: g.utilizationPercent, memoryUsedMiB: g.memoryUsedMiB });
    }
    return {
      cpuUtilizationPercent: total > 0 ? Math.round((busy / total) * 1000) / 10 : 0,
      memoryUsageMegabytes: Math.round((totalmem() - freemem()) / 1e6),
      gpus,
    };
  }
}

/**
 * MLflow's system metric names for one job. GPUs are numbered as the job sees them
 * (its position in CUDA_VISIBLE_DEVICES), matching what MLflow logs from inside the job.
 */
export function systemMetricsFor(sample: SystemSample, allocatedGpus: number[]): { key: string; value: number }[] {
  const out = [
    { key: "system/cpu_utilization_percentage", value: sample.cpuUtilizationPercent },
    { key: "system/system_memory_usage_megabytes", value: sample.memoryUsageMegabytes },
  ];
  allocatedGpus.forEach((physical, local) => {
    const g = sample.gpus.get(physical);
    if (g?.utilizationPercent != null) out.push({ key: `system/gpu_${local}_utilization_percentage`, value: g.utilizationPercent });
    if (g?.memoryUsedMiB != null) out.push({ key: `system/gpu_${local}_memory_usage_megabytes`, value: g.memoryUsedMiB });
  });
  return out;
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    const sum = t.user + t.nice + t.sys + t.idle + t.irq;
    total += sum;
    busy += sum - t.idle;
  }
  return { busy, total };
}

/** Linux's fixed units in /proc/<pid>/stat: clock ticks per second (USER_HZ) and the page size of `rss`. */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

/**
 * Each rank's own use of a distributed local attempt, from one scan of /proc: CPU seconds so far
 * (its live processes' user and system time, with their reaped children's) and resident memory,
 * summed over the rank's process group. Empty where /proc is not there.
 */
export function rankMetricsFor(ranks: { rank: number; pid: number }[]): { key: string; value: number }[] {
  const byGroup = new Map(ranks.map((r) => [r.pid, { rank: r.rank, ticks: 0, pages: 0 }]));
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // Fields resume after the command name's last ')': state is field 3, so field k is at k - 3.
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const use = byGroup.get(Number(f[2]));
    if (!use || f[0] === "Z" || f[0] === "X") continue;
    use.ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    use.pages += Number(f[21]);
  }
  return [...byGroup.values()].flatMap((u) => [
    { key: `system/rank_${u.rank}/cpu_seconds`, value: Math.round((u.ticks / TICKS_PER_SECOND) * 100) / 100 },
    { key: `system/rank_${u.rank}/memory_rss_megabytes`, value: Math.round((u.pages * PAGE_BYTES) / 1e4) / 100 },
  ]);
}
