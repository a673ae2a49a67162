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
