import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PlatformError } from "../../core/index.ts";
import { ProfileCatalog, parseMemoryMiB } from "./index.ts";

describe("ProfileCatalog", () => {
  it("ships the default profiles", () => {
    const catalog = ProfileCatalog.load();
    expect(catalog.list().map((p) => p.name)).toEqual(["cpu", "cpu-large", "gpu-1", "gpu-2", "gpu-4", "gpu-8"]);
    const gpu2 = catalog.get("gpu-2");
    expect(gpu2.gpus).toBe(2);
    expect(gpu2.memoryMiB).toBe(32 * 1024);
    expect(gpu2.hourlyCost).toBeGreaterThan(0);
  });

  it("rejects an unknown profile with INVALID_INPUT naming the known ones", () => {
    const catalog = ProfileCatalog.load();
    try {
      catalog.get("gpu-xl");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PlatformError);
      expect((error as PlatformError).code).toBe("INVALID_INPUT");
      expect((error as PlatformError).details?.known).toContain("gpu-1");
      expect((error as PlatformError).message).toContain("paved profiles ls");
    }
  });

  it("replaces the catalog with the configured file", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    writeFileSync(file, "profiles:\n  tiny:\n    cpus: 0.5\n    memory: 512Mi\n  h200:\n    gpus: 1\n    gpuType: H200\n    cpus: 4\n    memory: 8\n");
    const catalog = ProfileCatalog.load(file);
    expect(catalog.list().map((p) => p.name)).toEqual(["tiny", "h200"]);
    expect(catalog.get("h200")).toMatchObject({ gpuType: "H200", memoryMiB: 8, gpus: 1 });
    expect(() => catalog.get("cpu")).toThrow(PlatformError);
  });

  it("refuses a malformed profiles file with a CONFIG error", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    writeFileSync(file, "profiles:\n  bad:\n    cpus: 1\n    memory: lots\n");
    expect(() => ProfileCatalog.load(file)).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });

  it("gives a profile's jobs its env, and refuses names Paved sets (CONFIG)", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    writeFileSync(file, "profiles:\n  multi:\n    cpus: 1\n    memory: 1Gi\n    env:\n      NCCL_SOCKET_IFNAME: ib0\n  plain:\n    cpus: 1\n    memory: 1Gi\n");
    const catalog = ProfileCatalog.load(file);
    expect(catalog.get("multi").env).toEqual({ NCCL_SOCKET_IFNAME: "ib0" });
    expect(catalog.get("plain").env).toBeUndefined();
    writeFileSync(file, "profiles:\n  bad:\n    cpus: 1\n    memory: 1Gi\n    env:\n      MLFLOW_TRACKING_URI: http://elsewhere\n");
    expect(() => ProfileCatalog.load(file)).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });

  it("parses memory quantities to MiB", () => {
    expect(parseMemoryMiB("512Mi")).toBe(512);
    expect(parseMemoryMiB("4Gi")).toBe(4096);
    expect(parseMemoryMiB("1.5Gi")).toBe(1536);
    expect(parseMemoryMiB("1G")).toBe(954);
    expect(parseMemoryMiB("lots")).toBeUndefined();
  });
});
