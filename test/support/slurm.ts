import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./server-process.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** A single-node Slurm this test started (scripts/slurm-up.sh), on ports of its own. */
export interface TestSlurm {
  /** slurm.conf of this cluster: what SLURM_CONF and compute.slurm.conf point at. */
  conf: string;
  /** The environment of Slurm's commands for this cluster. */
  env: Record<string, string>;
  /** Its GPUs' GRES type (typed GRES) or undefined (count-only gpu:N). */
  gpuType: string | undefined;
  stop(): Promise<void>;
  /** Stops slurmctld only (Slurm "down": the node and its jobs keep running). */
  stopController(): Promise<void>;
  startController(): Promise<void>;
}

/** Why Slurm cannot run here, or undefined when it can: the reason a skipped test carries. */
export function slurmUnavailable(): string | undefined {
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
  if (!has("slurmctld") || !has("sbatch")) return "Slurm is not installed (scripts/install-deps.sh installs Debian's slurm-wlm)";
  if (process.getuid?.() !== 0) return "scripts/slurm-up.sh needs root (munge, device nodes for the fake GPUs, SlurmUser=root)";
  return undefined;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile(file, args, { env, timeout: 120_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${file} ${args.join(" ")} failed: ${stderr || error.message}`)) : resolve({ stdout, stderr }))),
  );
}

/**
 * Starts a fresh single-node Slurm with `gpus` fake GPUs (count-only GRES backed by character
 * devices, so Slurm schedules them and sets CUDA_VISIBLE_DEVICES) and `cpus` CPUs.
 */
export async function startTestSlurm(opts: { gpus?: number; gpuType?: string; cpus?: number; graceTime?: number } = {}): Promise<TestSlurm> {
  const state = mkdtempSync(join(tmpdir(), "paved-slurm-"));
  const [ctld, slurmd] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    FAKE_GPUS: String(opts.gpus ?? 4),
    CTLD_PORT: String(ctld),
    SLURMD_PORT: String(slurmd),
    SCHEDULER_PARAMETERS: "batch_sched_delay=0",
    GRACE_TIME: String(opts.graceTime ?? 5),
    ...(opts.gpuType ? { GPU_TYPE: opts.gpuType } : {}),
    ...(opts.cpus ? { CPUS: String(opts.cpus) } : {}),
  };
  const up = await run(join(ROOT, "scripts/slurm-up.sh"), [state], env);
  const conf = /SLURM_CONF=(\S+)/.exec(up.stdout)?.[1];
  if (!conf) throw new Error(`scripts/slurm-up.sh printed no SLURM_CONF:\n${up.stdout}${up.stderr}`);
  const slurmEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", SLURM_CONF: conf };
  return {
    conf,
    env: slurmEnv,
    gpuType: opts.gpuType,
    // munged stays: another test file's cluster may be using it.
    stop: async () => void (await run(join(ROOT, "scripts/slurm-down.sh"), [state], { ...process.env, KEEP_MUNGE: "1" })),
    stopController: async () => {
      await run("sh", ["-c", `kill "$(cat "${state}/slurmctld.pid")"; while kill -0 "$(cat "${state}/slurmctld.pid")" 2>/dev/null; do sleep 0.1; done`], process.env);
    },
    startController: async () => {
      await run("slurmctld", [], { ...process.env, ...slurmEnv });
      await run("sh", ["-c", "until scontrol ping | grep -q UP; do sleep 0.1; done"], { ...process.env, ...slurmEnv });
    },
  };
}
