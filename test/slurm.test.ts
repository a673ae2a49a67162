// Jobs on Slurm through a real `paved up` and a real single-node Slurm this test starts (issue 13):
// the quickstart job spec runs unchanged on the local executor and on Slurm; GPU requests are
// scheduled by Slurm (count-only GRES); `paved resources` shows each backend; bad input is refused
// with what exists; a Slurm that is down keeps the job queued with the reason and runs it once it
// is back; Slurm's own preemption (a job of a higher-priority partition) reaches a PyTorch job as
// SIGTERM, which checkpoints and is requeued by Paved without spending a retry; kill -9 of `paved up`
// while 20 Slurm jobs run loses none and duplicates none.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runPaved } from "./support/cli.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";
import { slurmUnavailable, startTestSlurm, type TestSlurm } from "./support/slurm.ts";

const TOKEN = "pvd_slurm-story-token-0123456789ab";
const QUICKSTART = new URL("../examples/quickstart/job.yaml", import.meta.url).pathname;
const DDP_SCRIPT = new URL("../src/modules/compute/test-ddp-job.py", import.meta.url).pathname;
const PREEMPTIBLE_SCRIPT = new URL("../src/modules/compute/test-preemptible-job.py", import.meta.url).pathname;
const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;
const skip = slurmUnavailable();

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

async function ok(server: ServerProcess, method: string, path: string, body?: unknown): Promise<any> {
  const r = await api(server, method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ended = (s: ServerProcess, id: string) =>
  waitFor(`job ${id} to end`, async () => {
    const job = await ok(s, "GET", `/api/v1/jobs/${id}`);
    return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase) ? job : undefined;
  });

/** Paved's jobs Slurm knows, by job name (paved-<job>-<attempt>). */
function slurmJobNames(slurm: TestSlurm): string[] {
  return execFileSync("squeue", ["--noheader", "--states=all", "--format=%j"], { env: slurm.env, encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("paved-"));
}

describe.skipIf(skip !== undefined)(`jobs on Slurm${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let slurm: TestSlurm;
  let root: string;
  let profilesFile: string;
  const servers: ServerProcess[] = [];
  const start = async (dataDir: string, executor: "local" | "slurm") => {
    const s = await startServerProcess({
      dataDir,
      token: TOKEN,
      config: { compute: { gpus: [], systemMetricsInterval: 1, profilesFile, executor, slurm: { conf: slurm.conf, pollSeconds: 0.3, maxRetrySeconds: 2 } } },
    });
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    // 32 CPUs declared on the one node (more than the machine has), so 20 small jobs run at once.
    slurm = await startTestSlurm({ gpus: 4, cpus: 32 });
    root = mkdtempSync(join(tmpdir(), "paved-slurm-story-"));
    profilesFile = join(root, "profiles.yaml");
    writeFileSync(
      profilesFile,
      stringify({
        profiles: {
          cpu: { description: "the default; runs on compute.executor", cpus: 1, memory: "1Gi" },
          "slurm-small": { description: "a small Slurm job", executor: "slurm", cpus: 1, memory: "64Mi" },
          "slurm-gpu-2": { description: "two GPUs on Slurm", executor: "slurm", gpus: 2, cpus: 1, memory: "64Mi" },
          "slurm-h100": { description: "a type the cluster lacks", executor: "slurm", gpus: 1, gpuType: "H100", cpus: 1, memory: "64Mi" },
          "slurm-nowhere": { description: "a partition the cluster lacks", executor: "slurm", cpus: 1, memory: "64Mi", slurm: { partition: "nowhere" } },
          "slurm-urgent": { description: "the urgent partition", executor: "slurm", cpus: 1, memory: "64Mi", slurm: { partition: "urgent" } },
          "slurm-ddp": { description: "two ranks on Slurm", executor: "slurm", cpus: 2, memory: "2Gi" },
          "slurm-preemptible": { description: "Slurm's default partition (debug), which urgent preempts", executor: "slurm", cpus: 1, memory: "2Gi" },
          "slurm-hatch": { description: "raw sbatch arguments", executor: "slurm", cpus: 1, memory: "64Mi", slurm: { extraArgs: ["--comment=paved-escape-hatch", "--nice=7"] } },
        },
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    await slurm?.stop();
  });

  it.skipIf(!hasTorch)("runs the quickstart job spec unchanged on the local executor and on Slurm", async () => {
    for (const executor of ["local", "slurm"] as const) {
      const server = await start(join(root, `quickstart-${executor}`), executor);
      const dir = mkdtempSync(join(root, "cli-"));
      const applied = await runPaved(["apply", "-f", QUICKSTART, "--json"], { url: server.url, token: TOKEN, dir });
      expect(applied.code, applied.stderr).toBe(0);
      const job = JSON.parse(applied.stdout);
      const id = (Array.isArray(job) ? job[0] : job).id as string;
      const done = await ended(server, id);
      expect({ executor, phase: done.phase }).toEqual({ executor, phase: "SUCCEEDED" });
      expect(done.request.executor).toBe(executor === "slurm" ? "slurm" : undefined);
      const events = done.events.map((e: { type: string; message: string }) => `${e.type}: ${e.message}`).join("\n");
      if (executor === "slurm") expect(events).toMatch(/submitted to slurm as job \d+/);
      const run = await ok(server, "GET", `/api/2.0/mlflow/runs/get?run_id=${done.runId}`);
      const metrics = Object.fromEntries(run.run.data.metrics.map((m: { key: string; value: number }) => [m.key, m.value]));
      expect(metrics.val_accuracy).toBeGreaterThan(0.8);
      await server.stop();
    }
  }, 400_000);

  it("schedules GPUs on Slurm, shows each backend's capacity, and refuses what no backend has", async () => {
    const server = await start(join(root, "gpus"), "local");
    const work = mkdtempSync(join(root, "work-"));
    const job = await ok(server, "POST", "/api/v1/jobs", {
      name: "slurm-gpus",
      command: ["/bin/sh", "-c", 'echo "gpus=[$CUDA_VISIBLE_DEVICES] slurm=$SLURM_JOB_ID token=${MLFLOW_TRACKING_TOKEN:+set}"'],
      workingDir: work,
      compute: { profile: "slurm-gpu-2" },
    });
    const done = await ended(server, job.id);
    expect(done.phase).toBe("SUCCEEDED");
    const logs = await (await fetch(`${server.url}/api/v1/jobs/${job.id}/logs`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(logs).toMatch(/gpus=\[\d+,\d+\] slurm=\d+ token=set/);

    const resources = await ok(server, "GET", "/api/v1/compute/resources");
    const slurmBackend = resources.backends.find((b: { name: string }) => b.name === "slurm");
    expect(slurmBackend).toMatchObject({ available: true, total: { gpus: 4, cpus: 32 }, partitions: ["debug", "urgent"] });
    const cli = await runPaved(["resources"], { url: server.url, token: TOKEN, dir: mkdtempSync(join(root, "cli-")) });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/slurm\s+4 of 4/);

    const noType = await api(server, "POST", "/api/v1/jobs", { name: "h100", command: ["true"], workingDir: work, compute: { profile: "slurm-h100" } });
    expect(noType.status).toBe(400);
    expect(noType.body.error.code).toBe("INVALID_INPUT");
    expect(noType.body.error.details.gpuTypes).toEqual({ slurm: [], local: [] });
    const noPartition = await api(server, "POST", "/api/v1/jobs", { name: "nowhere", command: ["true"], workingDir: work, compute: { profile: "slurm-nowhere" } });
    expect(noPartition.status).toBe(400);
    expect(noPartition.body.error.details.partitions).toEqual(["debug", "urgent"]);
    await server.stop();
  }, 200_000);

  it.skipIf(!hasTorch)("trains a 2-rank PyTorch DDP job on Slurm (srun, gloo), tracked as one run with per-rank system metrics", async () => {
    const server = await start(join(root, "ddp"), "local");
    const work = mkdtempSync(join(root, "work-"));
    const job = await ok(server, "POST", "/api/v1/jobs", {
      name: "ddp-slurm",
      workingDir: work,
      command: ["/usr/bin/python3", DDP_SCRIPT, "--epochs", "3"],
      compute: { profile: "slurm-ddp", processesPerNode: 2 },
    });
    const done = await ended(server, job.id);
    const log = await (await fetch(`${server.url}/api/v1/jobs/${job.id}/logs`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(done.phase, log).toBe("SUCCEEDED");
    // Both ranks (srun tasks, their output in the attempt's log) got the rendezvous and ran a collective.
    const master = /rank 0\/2 local_rank 0\/2 node_rank 0 master (\S+) cuda \[\] token yes run (\S+)/.exec(log);
    expect(master?.[2]).toBe(done.runId);
    expect(log).toContain(`rank 1/2 local_rank 1/2 node_rank 0 master ${master![1]} cuda [] token yes run ${done.runId}`);
    expect(log).toContain("rank 0: all_reduce of ranks = 1");
    expect(log).toContain("rank 1: all_reduce of ranks = 1");
    const checksums = [...log.matchAll(/parameter checksum (\S+)/g)].map((m) => m[1]);
    expect(checksums).toHaveLength(2);
    expect(checksums[1]).toBe(checksums[0]);
    // Rank 0's metric lines are the run's metrics.
    const history = await ok(server, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${done.runId}&metric_key=loss`);
    expect(history.metrics.map((m: { step: number }) => m.step)).toEqual([0, 1, 2]);
    // Per-rank system metrics, sampled by each rank on its node (paved.system lines in the log).
    for (const rank of [0, 1]) {
      for (const key of ["cpu_seconds", "memory_rss_megabytes"]) {
        const series = (await ok(server, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${done.runId}&metric_key=system/rank_${rank}/${key}`)).metrics ?? [];
        expect(series.length, `rank ${rank} ${key}`).toBeGreaterThan(0);
        expect(Math.max(...series.map((m: { value: number }) => m.value)), `rank ${rank} ${key}`).toBeGreaterThan(0);
      }
    }
    await server.stop();
  });

  it("passes a profile's raw sbatch arguments to Slurm, leaves an event, and a team's policy can forbid them", async () => {
    const server = await start(join(root, "hatch"), "local");
    const work = mkdtempSync(join(root, "work-"));
    const spec = { name: "hatch", command: ["/bin/sh", "-c", "echo ran"], workingDir: work, compute: { profile: "slurm-hatch" } };
    const done = await ended(server, (await ok(server, "POST", "/api/v1/jobs", spec)).id);
    expect(done.phase).toBe("SUCCEEDED");
    const events = done.events.map((e: { type: string; message: string }) => `${e.type}: ${e.message}`).join("\n");
    expect(events).toContain("ExecutorArgs: attempt 1 passed its profile's raw slurm arguments: --comment=paved-escape-hatch --nice=7");
    // Slurm itself has them: scontrol shows a job of this comment with that nice value.
    const shown = spawnSync("scontrol", ["show", "job", "--oneliner"], { env: slurm.env, encoding: "utf8" });
    const record = shown.stdout.split("\n").find((line) => line.includes("Comment=paved-escape-hatch"));
    expect(record, `${shown.stdout}${shown.stderr}`).toBeDefined();
    expect(record).toMatch(/\bNice=7\b/);
    // A team policy that forbids raw executor arguments refuses the profile, naming them.
    await ok(server, "PUT", "/api/v1/policies/teams/default", { yaml: "allowExecutorArgs: false\n" });
    const refused = await fetch(`${server.url}/api/v1/jobs`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ ...spec, name: "hatch-2" }) });
    const body = (await refused.json()) as { error: { code: string; message: string; details: { rule: string } } };
    expect({ status: refused.status, code: body.error.code, rule: body.error.details.rule }).toEqual({ status: 403, code: "FORBIDDEN", rule: "allowExecutorArgs" });
    expect(body.error.message).toContain("--comment=paved-escape-hatch --nice=7");
    await server.stop();
  });

  it.skipIf(!hasTorch)("routes Slurm's own preemption to the checkpoint-and-requeue path: SIGTERM, checkpoint, requeued without spending a retry, resumed", async () => {
    const server = await start(join(root, "preempt"), "local");
    const work = mkdtempSync(join(root, "work-"));
    const job = await ok(server, "POST", "/api/v1/jobs", {
      name: "preemptible",
      workingDir: work,
      command: ["/usr/bin/python3", PREEMPTIBLE_SCRIPT, "--epochs", "40", "--epoch-seconds", "0.15"],
      compute: { profile: "slurm-preemptible" },
      // One attempt: a preemption must not use it up.
      retry: { maxAttempts: 1 },
    });
    const epochs = async () =>
      ((await ok(server, "GET", `/api/2.0/mlflow/metrics/get-history?run_id=${job.runId}&metric_key=attempt`)).metrics ?? [])
        .map((m: { step: number; value: number }) => ({ step: Number(m.step), attempt: m.value }))
        .sort((a: { step: number }, b: { step: number }) => a.step - b.step) as { step: number; attempt: number }[];
    await waitFor("the job's third epoch", async () => ((await epochs()).length >= 3 ? true : undefined));
    // Somebody else's job in the urgent partition needs all 32 CPUs: Slurm preempts Paved's job
    // (PreemptMode=CANCEL: SIGTERM, then GraceTime=5 s before it kills). (Slurm 22.05 here does not
    // preempt for GRES alone: a job asking for every GPU waits instead.)
    const urgent = execFileSync("sbatch", ["--parsable", "--partition=urgent", "--ntasks=32", `--output=${join(work, "urgent.out")}`, "--wrap", "sleep 2"], { env: slurm.env, encoding: "utf8" }).trim();
    const done = await ended(server, job.id);
    const log = async (attempt: number) => (await fetch(`${server.url}/api/v1/jobs/${job.id}/logs?attempt=${attempt}`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(done.phase, `${JSON.stringify(done.events)}\n${await log(1)}`).toBe("SUCCEEDED");
    // Two attempts although retry.maxAttempts is 1: the preemption spent none of it.
    expect(done.attempt).toBe(2);
    const preempted = done.events.find((e: { type: string }) => e.type === "Preempted");
    expect(preempted?.message).toMatch(/^Preempted by slurm .*attempt 1 exited with code 143 and the job is queued again as attempt 2, resuming from its checkpoint dir/);
    // Every epoch ran exactly once: attempt 1 up to its checkpoint, attempt 2 from there on.
    const ran = await epochs();
    expect(ran.map((e) => e.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const last1 = Math.max(...ran.filter((e) => e.attempt === 1).map((e) => e.step));
    expect(ran.filter((e) => e.step <= last1).every((e) => e.attempt === 1)).toBe(true);
    expect(ran.filter((e) => e.step > last1).every((e) => e.attempt === 2)).toBe(true);
    expect(await log(1)).toContain(`SIGTERM received; checkpointed epoch ${last1}`);
    expect(await log(2)).toContain(`resumed from the checkpoint of epoch ${last1}`);
    // Slurm says so too: it chose the first batch job for preemption (which, having exited within
    // the grace time, Slurm lists as FAILED rather than PREEMPTED), and the urgent job ran.
    const states = execFileSync("squeue", ["--noheader", "--states=all", "--format=%i %j %T"], { env: slurm.env, encoding: "utf8" });
    const first = new RegExp(`^\\s*(\\d+) paved-${job.id}-1 (\\S+)`, "m").exec(states);
    expect(first?.[2], states).toMatch(/^(FAILED|PREEMPTED)$/);
    expect(execFileSync("scontrol", ["show", "job", "--oneliner", first![1]!], { env: slurm.env, encoding: "utf8" })).toMatch(/\bPreemptTime=\d{4}-/);
    expect(states).toMatch(new RegExp(`^\\s*${urgent} \\S+ COMPLETED`, "m"));
    await server.stop();
  }, 300_000);

  it("keeps a job queued with the reason while Slurm is down, and runs it once when Slurm is back", async () => {
    const server = await start(join(root, "down"), "local");
    const work = mkdtempSync(join(root, "work-"));
    const mark = join(work, "mark.txt");
    await slurm.stopController();
    try {
      const job = await ok(server, "POST", "/api/v1/jobs", {
        name: "while-down",
        command: ["/bin/sh", "-c", 'echo "start $PAVED_ATTEMPT" >> "$MARK"'],
        workingDir: work,
        env: { MARK: mark },
        compute: { profile: "slurm-small" },
        retry: { maxAttempts: 1 },
      });
      const waiting = await waitFor("the job to wait for Slurm", async () => {
        const j = await ok(server, "GET", `/api/v1/jobs/${job.id}`);
        return j.phase === "QUEUED" && j.pending?.backend ? j : undefined;
      });
      expect(waiting.pending.backend.name).toBe("slurm");
      expect(waiting.pending.reason).toMatch(/Slurm is unavailable/);
      expect(waiting.attempt).toBe(1);
      await slurm.startController();
      const done = await ended(server, job.id);
      expect(done.phase).toBe("SUCCEEDED");
      expect(done.attempt).toBe(1);
      expect(readFileSync(mark, "utf8").trim().split("\n")).toEqual(["start 1"]);
    } finally {
      await slurm.startController().catch(() => undefined);
    }
    await server.stop();
  }, 300_000);

  it("kill -9 of paved up while 20 Slurm jobs run loses none and duplicates none", async () => {
    const dataDir = join(root, "crash");
    let server = await start(dataDir, "local");
    const work = mkdtempSync(join(root, "work-"));
    const before = new Set(slurmJobNames(slurm));
    // Each job says it started, then waits for the test's go file.
    const program = 'echo "start $PAVED_ATTEMPT" >> "$MARK"; while [ ! -e "$GO" ]; do sleep 0.2; done';
    const go = join(work, "go");
    const jobs = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const mark = join(work, `mark-${i}.txt`);
        const job = await ok(server, "POST", "/api/v1/jobs", {
          name: `crash-${i}`,
          command: ["/bin/sh", "-c", program],
          workingDir: work,
          env: { MARK: mark, GO: go },
          compute: { profile: "slurm-small" },
          retry: { maxAttempts: 1 },
        });
        return { id: job.id as string, mark };
      }),
    );
    const current = server;
    await waitFor("all 20 jobs to run in Slurm", async () => {
      const phases = await Promise.all(jobs.map(async (j) => (await ok(current, "GET", `/api/v1/jobs/${j.id}`)).phase));
      return phases.every((p) => p === "RUNNING") ? true : undefined;
    });
    await server.kill9();
    server = await start(dataDir, "local");
    const restarted = server;
    // The restarted server finds every attempt still running in Slurm and watches it again.
    await waitFor("every job to be adopted", async () => {
      const all = await Promise.all(jobs.map(async (j) => (await ok(restarted, "GET", `/api/v1/jobs/${j.id}`)) as { phase: string; events: { type: string }[] }));
      return all.every((j) => j.phase === "RUNNING" && j.events.some((e) => e.type === "Adopted")) ? true : undefined;
    });
    writeFileSync(go, "");
    for (const j of jobs) {
      const done = await ended(server, j.id);
      expect({ id: j.id, phase: done.phase, attempt: done.attempt }).toEqual({ id: j.id, phase: "SUCCEEDED", attempt: 1 });
      expect(existsSync(j.mark)).toBe(true);
      expect(readFileSync(j.mark, "utf8").trim().split("\n")).toEqual(["start 1"]);
    }
    // Slurm got exactly one batch job per job: none submitted twice.
    const names = slurmJobNames(slurm).filter((n) => !before.has(n));
    expect(names.sort()).toEqual(jobs.map((j) => `paved-${j.id}-1`).sort());
    await server.stop();
  }, 400_000);
});
