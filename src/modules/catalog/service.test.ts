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

  it("passes allowed raw sbatch arguments through a Slurm profile, and refuses the others naming the allowed ones (CONFIG)", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    const profile = (args: string[]) => `profiles:\n  hpc:\n    executor: slurm\n    cpus: 1\n    memory: 1Gi\n    slurm:\n      extraArgs: ${JSON.stringify(args)}\n`;
    writeFileSync(file, profile(["--constraint=a100,nvlink", "--exclusive", "--nodelist=node[01-04]"]));
    expect(ProfileCatalog.load(file).get("hpc").slurm).toEqual({ extraArgs: ["--constraint=a100,nvlink", "--exclusive", "--nodelist=node[01-04]"] });
    const refused: [string, RegExp][] = [
      ["--uid=0", /--uid may not be passed through.*allowed: --constraint/],
      ["--output=/etc/passwd", /--output may not be passed through/],
      ["--export=ALL", /--export may not be passed through/],
      ["--wrap=id", /--wrap may not be passed through/],
      ["--gres=gpu:8", /--gres may not be passed through/],
      ["-C a100", /not --option or --option=value/],
      ["--comment=two words", /not --option or --option=value/],
      ["--comment=x\n--uid=0", /not --option or --option=value/],
    ];
    for (const [arg, why] of refused) {
      writeFileSync(file, profile([arg]));
      let error: unknown;
      try {
        ProfileCatalog.load(file);
      } catch (e) {
        error = e;
      }
      expect({ arg, code: (error as { code?: string })?.code }).toEqual({ arg, code: "CONFIG" });
      expect((error as Error).message).toMatch(why);
    }
  });

  it("takes a Kubernetes profile's priority class, Kueue queue and pod spec patch, and refuses patches of what Paved owns (CONFIG)", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    const profile = (kubernetes: unknown, executor = "kubernetes") => `profiles:\n  gpu-k8s:\n    executor: ${executor}\n    gpus: 1\n    gpuType: H100\n    cpus: 4\n    memory: 16Gi\n    kubernetes: ${JSON.stringify(kubernetes)}\n`;
    const fields = { priorityClassName: "ml-high", kueueQueue: "team-a", podSpecPatch: { runtimeClassName: "nvidia", containers: [{ name: "job", image: "registry.example/cuda:12" }] } };
    writeFileSync(file, profile(fields));
    expect(ProfileCatalog.load(file).get("gpu-k8s")).toMatchObject({ executor: "kubernetes", kubernetes: fields });
    const refused: [unknown, RegExp, string?][] = [
      [{ podSpecPatch: { restartPolicy: "Always" } }, /podSpecPatch.restartPolicy may not be set/],
      [{ podSpecPatch: { containers: [{ name: "job", command: ["sh", "-c", "id"] }] } }, /containers\[0\].command may not be set/],
      [{ podSpecPatch: { containers: [{ name: "job", envFrom: [{ secretRef: { name: "other" } }] }] } }, /envFrom may not be set/],
      [{ priorityClassName: "Not_A_Name" }, /PriorityClass name/],
      [{ kueueQueue: "team-a" }, /kubernetes fields need `executor: kubernetes`/, "slurm"],
    ];
    for (const [fieldsOf, why, executor] of refused) {
      writeFileSync(file, profile(fieldsOf, executor));
      let error: unknown;
      try {
        ProfileCatalog.load(file);
      } catch (e) {
        error = e;
      }
      expect((error as { code?: string })?.code).toBe("CONFIG");
      expect((error as Error).message).toMatch(why);
    }
  });

  it("prices the built-in profiles from the unit prices, as they cost before prices existed", () => {
    const catalog = ProfileCatalog.load();
    expect(catalog.prices.currency).toBe("USD");
    expect(catalog.list().map((p) => [p.name, p.hourlyCost])).toEqual([
      ["cpu", 0.05],
      ["cpu-large", 0.4],
      ["gpu-1", 3.5],
      ["gpu-2", 7],
      ["gpu-4", 14],
      ["gpu-8", 28],
    ]);
    // Raw resources cost their GPUs, CPUs and memory at the unit prices.
    expect(catalog.hourlyCost({ gpus: 1, cpus: 4, memoryMiB: 16 * 1024 })).toBe(3.5);
    expect(catalog.hourlyCost({ profile: "gpu-2", gpus: 2, cpus: 8, memoryMiB: 32 * 1024 })).toBe(7);
  });

  it("prices GPUs by type, keeps a profile's own hourlyCost, and reads a file without prices as free", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-profiles-"));
    const file = join(dir, "profiles.yaml");
    writeFileSync(
      file,
      [
        "prices:",
        "  currency: EUR",
        "  gpuHour: 2",
        "  gpuHourByType: { H100: 5 }",
        "  cpuHour: 0.1",
        "  memoryGBHour: 0.01",
        "  storageGBMonth: 0.02",
        "  replicaHour: 0.2",
        "profiles:",
        "  h100: { gpus: 1, gpuType: H100, cpus: 2, memory: 10Gi }",
        "  any-gpu: { gpus: 1, cpus: 2, memory: 10Gi }",
        "  fixed: { gpus: 1, gpuType: H100, cpus: 2, memory: 10Gi, hourlyCost: 9 }",
      ].join("\n"),
    );
    const catalog = ProfileCatalog.load(file);
    expect(catalog.prices).toMatchObject({ currency: "EUR", storageGBMonth: 0.02, replicaHour: 0.2 });
    expect(catalog.get("h100").hourlyCost).toBe(5.3);
    expect(catalog.get("any-gpu").hourlyCost).toBe(2.3);
    expect(catalog.get("fixed").hourlyCost).toBe(9);
    expect(catalog.hourlyCost({ profile: "fixed", gpus: 1, gpuType: "H100", cpus: 2, memoryMiB: 10240 })).toBe(9);
    expect(catalog.hourlyCost({ gpus: 2, gpuType: "H100", cpus: 0, memoryMiB: 0 })).toBe(10);
    // A profile that left the catalog: its resources at the unit prices.
    expect(catalog.hourlyCost({ profile: "gone", gpus: 1, cpus: 0, memoryMiB: 0 })).toBe(2);

    writeFileSync(file, "profiles:\n  old:\n    cpus: 1\n    memory: 1Gi\n    hourlyCost: 0.3\n");
    const old = ProfileCatalog.load(file);
    expect(old.get("old").hourlyCost).toBe(0.3);
    expect(old.prices).toMatchObject({ currency: "USD", gpuHour: 0, cpuHour: 0 });
    writeFileSync(file, "prices:\n  currency: dollars\nprofiles: {}\n");
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
