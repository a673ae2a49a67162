import { readFileSync, writeFileSync, mkdtempSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseGpuQuery, queryGpus } from "./gpu-discovery.ts";
import { discoverResources } from "./resources.ts";

const fixtures = join(import.meta.dirname, "../../../test/fixtures/nvidia-smi-h200");
const FIXTURE_FIELDS = [
  "index", "uuid", "name", "memory.total", "memory.used", "memory.free", "utilization.gpu", "utilization.memory",
  "temperature.gpu", "power.draw", "power.limit", "pci.bus_id", "driver_version", "mig.mode.current", "compute_mode",
];

describe("nvidia-smi parsing (real H200 output)", () => {
  it("reads the header form and the noheader,nounits form alike", () => {
    const gpus = parseGpuQuery(readFileSync(join(fixtures, "query-gpu-idle.csv"), "utf8"), FIXTURE_FIELDS);
    expect(gpus).toHaveLength(2);
    for (const gpu of gpus) {
      expect(gpu).toEqual({
        index: 0,
        uuid: "GPU-fcd2db5f-7c61-169b-d07d-f4234c13d9cb",
        name: "NVIDIA H200",
        memoryTotalMiB: 143771,
        memoryUsedMiB: 0,
        utilizationPercent: 0,
        temperatureC: 39,
        powerWatts: expect.closeTo(129.48, 1),
      });
    }
  });

  it("reads a busy sample", () => {
    const [gpu] = parseGpuQuery(readFileSync(join(fixtures, "query-gpu-busy.csv"), "utf8"), FIXTURE_FIELDS);
    expect(gpu?.memoryUsedMiB).toBe(4);
    expect(gpu?.name).toBe("NVIDIA H200");
  });

  it("reads Paved's own query as a real H100 answered it", () => {
    const text = readFileSync(join(fixtures, "../nvidia-smi-h100/query-paved-idle.csv"), "utf8");
    expect(parseGpuQuery(text)).toEqual([
      { index: 0, uuid: "GPU-2f2a974a-dc89-26f4-5419-3532a57c7c8f", name: "NVIDIA H100 80GB HBM3", memoryTotalMiB: 81559, memoryUsedMiB: 0, utilizationPercent: 0, temperatureC: null, powerWatts: null },
    ]);
  });

  it("reads Paved's own query and accepts [N/A] values", () => {
    const text = "0, GPU-a, NVIDIA H200, 143771, 512, 37\n1, [N/A], Tesla T4, 15360, [Not Supported], [N/A]\n";
    expect(parseGpuQuery(text)).toEqual([
      { index: 0, uuid: "GPU-a", name: "NVIDIA H200", memoryTotalMiB: 143771, memoryUsedMiB: 512, utilizationPercent: 37, temperatureC: null, powerWatts: null },
      { index: 1, uuid: null, name: "Tesla T4", memoryTotalMiB: 15360, memoryUsedMiB: null, utilizationPercent: null, temperatureC: null, powerWatts: null },
    ]);
  });

  it("finds no GPUs when nvidia-smi is missing", async () => {
    expect(await queryGpus("/nonexistent/nvidia-smi")).toEqual([]);
    const machine = await discoverResources({ gpus: "auto", nvidiaSmi: "/nonexistent/nvidia-smi" });
    expect(machine.gpus).toEqual([]);
    expect(machine.cpus).toBeGreaterThan(0);
  });

  it("discovers GPUs through an nvidia-smi executable, and a config list wins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-smi-"));
    const smi = join(dir, "nvidia-smi");
    writeFileSync(smi, "#!/bin/sh\necho '0, GPU-x, NVIDIA H200, 143771, 0, 0'\necho '1, GPU-y, NVIDIA H200, 143771, 0, 0'\n");
    chmodSync(smi, 0o755);
    const found = await discoverResources({ gpus: "auto", nvidiaSmi: smi });
    expect(found.gpus.map((g) => g.uuid)).toEqual(["GPU-x", "GPU-y"]);
    expect(found.gpusDiscovered).toBe(true);
    const overridden = await discoverResources({
      gpus: [{ index: 0, name: "Fake", memoryMiB: 1024 }],
      nvidiaSmi: smi,
      cpus: 3,
      memoryMiB: 4096,
    });
    expect(overridden).toMatchObject({ gpus: [{ index: 0, name: "Fake" }], cpus: 3, memoryMiB: 4096, gpusDiscovered: false });
  });
});
