import { availableParallelism, cpus as osCpus, totalmem } from "node:os";
import type { Config } from "../../config/index.ts";
import { queryGpus } from "./gpu-discovery.ts";

export interface Gpu {
  index: number;
  uuid: string | null;
  name: string;
  memoryMiB: number;
}

/** What this machine offers the scheduler. */
export interface MachineResources {
  gpus: Gpu[];
  cpus: number;
  memoryMiB: number;
  cpuModel: string;
  /** True when the GPUs came from nvidia-smi (so GPU metrics can be sampled). */
  gpusDiscovered: boolean;
}

/** GPUs from the config override or nvidia-smi (run with `env`); CPUs and memory from the config or the OS. */
export async function discoverResources(
  compute: Pick<Config["compute"], "gpus" | "nvidiaSmi" | "cpus" | "memoryMiB">,
  env: Record<string, string> = {},
): Promise<MachineResources> {
  let gpus: Gpu[];
  let gpusDiscovered = false;
  if (compute.gpus === "auto") {
    gpus = (await queryGpus(compute.nvidiaSmi, env)).map((g) => ({
      index: g.index,
      uuid: g.uuid,
      name: g.name,
      memoryMiB: Math.round(g.memoryTotalMiB ?? 0),
    }));
    gpusDiscovered = gpus.length > 0;
  } else {
    gpus = compute.gpus.map((g) => ({ index: g.index, uuid: g.uuid ?? null, name: g.name, memoryMiB: g.memoryMiB }));
  }
  gpus.sort((a, b) => a.index - b.index);
  return {
    gpus,
    gpusDiscovered,
    cpus: compute.cpus ?? availableParallelism(),
    memoryMiB: compute.memoryMiB ?? Math.floor(totalmem() / (1024 * 1024)),
    cpuModel: osCpus()[0]?.model.trim() ?? "unknown",
  };
}

/** GPU indices of the backends besides this machine start here, one block each, so every GPU index is unique. */
export const BACKEND_GPU_BASE = 10_000;

/**
 * A backend's capacity as the scheduler weighs it: its GPUs as slots numbered from the backend's
 * block (the cluster picks the devices; Paved counts them), its CPUs and memory.
 */
export function backendMachine(ordinal: number, r: { cpus: number; memoryMiB: number; gpus: { name: string }[] }): MachineResources {
  const base = BACKEND_GPU_BASE * (ordinal + 1);
  return {
    gpus: r.gpus.map((g, i) => ({ index: base + i, uuid: null, name: g.name, memoryMiB: 0 })),
    cpus: r.cpus,
    memoryMiB: r.memoryMiB,
    cpuModel: "",
    gpusDiscovered: false,
  };
}
