import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The fields Paved asks nvidia-smi for, in this order. */
export const GPU_QUERY_FIELDS = ["index", "uuid", "name", "memory.total", "memory.used", "utilization.gpu"] as const;
/** What /metrics also exports per GPU (monitoring): temperature and power draw. */
export const GPU_TELEMETRY_FIELDS = [...GPU_QUERY_FIELDS, "temperature.gpu", "power.draw"] as const;

/** One GPU as nvidia-smi reports it; numbers are null where nvidia-smi says [N/A] or [Not Supported]. */
export interface GpuReading {
  index: number;
  uuid: string | null;
  name: string;
  memoryTotalMiB: number | null;
  memoryUsedMiB: number | null;
  utilizationPercent: number | null;
  /** Present when the query asked for it (GPU_TELEMETRY_FIELDS). */
  temperatureC: number | null;
  powerWatts: number | null;
}

/**
 * Parses `nvidia-smi --query-gpu=<fields> --format=csv[,noheader][,nounits]`. A header line, when
 * present, names the columns (so any field order and extra fields work); otherwise `fields` does.
 * Units ("143771 MiB", "0 %") and "[N/A]"-style placeholders are accepted.
 */
export function parseGpuQuery(text: string, fields: readonly string[] = GPU_QUERY_FIELDS): GpuReading[] {
  let columns = [...fields];
  const gpus: GpuReading[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const cells = line.split(",").map((c) => c.trim());
    if (cells[0] === "index" || cells[0]?.startsWith("index ")) {
      columns = cells.map((c) => c.replace(/\s*\[.*\]$/, ""));
      continue;
    }
    const cell = (field: string) => {
      const i = columns.indexOf(field);
      return i < 0 ? undefined : cells[i];
    };
    const index = toNumber(cell("index"));
    if (index === null || !Number.isInteger(index)) continue;
    const uuid = cell("uuid");
    gpus.push({
      index,
      uuid: uuid && !isPlaceholder(uuid) ? uuid : null,
      name: cell("name") ?? "GPU",
      memoryTotalMiB: toNumber(cell("memory.total")),
      memoryUsedMiB: toNumber(cell("memory.used")),
      utilizationPercent: toNumber(cell("utilization.gpu")),
      temperatureC: toNumber(cell("temperature.gpu")),
      powerWatts: toNumber(cell("power.draw")),
    });
  }
  return gpus;
}

function isPlaceholder(value: string): boolean {
  return value.startsWith("[") || value === "N/A";
}

function toNumber(value: string | undefined): number | null {
  if (value === undefined || isPlaceholder(value)) return null;
  const n = Number.parseFloat(value.replace(/\s*(MiB|%|W|C)$/, ""));
  return Number.isFinite(n) ? n : null;
}

/**
 * Asks nvidia-smi about every GPU; an empty list when nvidia-smi is missing or fails (no GPUs).
 * `env` is the allow-listed environment (PATH, LD_LIBRARY_PATH), never the server's whole one.
 */
export async function queryGpus(nvidiaSmi: string, env: Record<string, string> = {}, timeoutMs = 10_000, fields: readonly string[] = GPU_QUERY_FIELDS): Promise<GpuReading[]> {
  try {
    const { stdout } = await run(nvidiaSmi, [`--query-gpu=${fields.join(",")}`, "--format=csv,noheader,nounits"], {
      timeout: timeoutMs,
      encoding: "utf8",
      env,
    });
    return parseGpuQuery(stdout, fields);
  } catch {
    return [];
  }
}
