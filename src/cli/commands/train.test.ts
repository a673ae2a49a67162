import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Job } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const job = (over: Partial<Job> = {}): Job => ({
  id: "job_1",
  name: "mnist",
  phase: "QUEUED",
  priority: 0,
  attempt: 1,
  maxAttempts: 1,
  owner: "admin",
  team: "default",
  experimentId: "exp_1",
  runId: null,
  createdAt: 1_700_000_000_000,
  startedAt: null,
  finishedAt: null,
  exitCode: null,
  message: null,
  request: { profile: null, gpus: 0, gpuType: null, cpus: 1, memoryMiB: 1024 },
  allocation: null,
  events: [],
  spec: { name: "mnist", command: ["python3"], workingDir: "/work/project" },
  ...over,
});

describe("paved train", () => {
  it("turns flags and the command after -- into a job spec run in the current folder", async () => {
    const result = await runForTest([
      "train",
      "--name", "mnist",
      "--experiment", "digits",
      "--gpus", "2",
      "--cpus", "8",
      "--memory", "16Gi",
      "--max-runtime", "30m",
      "--retries", "2",
      "--hp", "lr=0.01", "batch=64",
      "--hp", "epochs=5",
      "--dataset", "train=data/train.csv",
      "--env", "SEED=1",
      "--priority", "5",
      "--",
      "python3", "train.py", "--epochs", "5",
    ], () => job());
    expect(result.code).toBe(0);
    expect(result.requests).toHaveLength(1);
    expect(result.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/jobs" });
    expect(result.requests[0]?.body).toEqual({
      name: "mnist",
      experiment: "digits",
      command: ["python3", "train.py", "--epochs", "5"],
      workingDir: "/work/project",
      env: { SEED: "1" },
      hyperparameters: { lr: "0.01", batch: "64", epochs: "5" },
      datasets: [{ name: "train", path: "/work/project/data/train.csv" }],
      compute: { gpus: 2, cpus: 8, memory: "16Gi" },
      maxRuntime: "30m",
      retry: { maxAttempts: 3 },
      priority: 5,
    });
    expect(result.stdout).toBe("job job_1 queued; follow with `paved logs -f job_1`\n");
  });

  it("takes a priority class or number, and --no-preemptible", async () => {
    const low = await runForTest(["train", "--name", "a", "--priority", "low", "--", "echo"], () => job());
    expect(low.requests[0]?.body).toMatchObject({ priority: "low" });
    expect(low.requests[0]?.body).not.toHaveProperty("preemptible");
    const pinned = await runForTest(["train", "--name", "a", "--priority", "-5", "--no-preemptible", "--", "echo"], () => job());
    expect(pinned.requests[0]?.body).toMatchObject({ priority: -5, preemptible: false });
    expect((await runForTest(["train", "--name", "a", "--priority", "urgent", "--", "echo"], () => job())).code).not.toBe(0);
  });

  it("sends --team, and PAVED_TEAM when no --team is given", async () => {
    const flag = await runForTest(["train", "--name", "a", "--team", "vision", "--", "echo"], () => job(), { env: { PAVED_TEAM: "nlp" } });
    expect(flag.requests[0]?.body).toMatchObject({ team: "vision" });
    const fromEnv = await runForTest(["train", "--name", "a", "--", "echo"], () => job(), { env: { PAVED_TEAM: "nlp" } });
    expect(fromEnv.requests[0]?.body).toMatchObject({ team: "nlp" });
    const none = await runForTest(["train", "--name", "a", "--", "echo"], () => job());
    expect(none.requests[0]?.body).not.toHaveProperty("team");
  });

  it("apply gives documents without a team the --team (or PAVED_TEAM) and refuses one naming another", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-apply-"));
    writeFileSync(join(dir, "jobs.yaml"), "name: a\ncommand: [echo]\n---\nname: b\ncommand: [echo]\nteam: nlp\n");
    const fromEnv = await runForTest(["apply", "-f", join(dir, "jobs.yaml")], () => job(), { env: { PAVED_TEAM: "vision" } });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.requests.map((r) => (r.body as { team?: string }).team)).toEqual(["vision", "nlp"]);
    const conflict = await runForTest(["apply", "-f", join(dir, "jobs.yaml"), "--team", "vision"], () => job());
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain("[INVALID_INPUT]");
    expect(conflict.requests).toHaveLength(0);
  });

  it("sends a profile on its own", async () => {
    const result = await runForTest(["train", "--name", "a", "--profile", "gpu-1", "--", "echo", "hi"], () => job());
    expect(result.requests[0]?.body).toEqual({ name: "a", command: ["echo", "hi"], workingDir: "/work/project", compute: { profile: "gpu-1" } });
  });

  it("sends a bare --max-runtime as seconds and --no-hp-args as hyperparameterArgs: false", async () => {
    const result = await runForTest(["train", "--name", "a", "--max-runtime", "90", "--hp", "lr=1", "--no-hp-args", "--", "echo"], () => job());
    expect(result.requests[0]?.body).toMatchObject({ maxRuntime: 90, hyperparameters: { lr: "1" }, hyperparameterArgs: false });
  });

  it("refuses a profile mixed with explicit resources before calling the server", async () => {
    const result = await runForTest(["train", "--name", "a", "--profile", "gpu-1", "--gpus", "1", "--", "echo"]);
    expect(result.code).toBe(2);
    expect(result.requests).toHaveLength(0);
    expect(result.stderr).toContain("[INVALID_INPUT]");
  });

  it.each([
    [["--gpus", "two"]],
    [["--memory", "lots"]],
    [["--max-runtime", "soon"]],
    [["--hp", "noequals"]],
  ])("rejects bad values %j with exit code 2", async (flags) => {
    const result = await runForTest(["train", "--name", "a", ...flags, "--", "echo"]);
    expect(result.code).toBe(2);
    expect(result.requests).toHaveLength(0);
  });

  it("needs --name and a command", async () => {
    expect((await runForTest(["train", "--", "echo"])).code).toBe(2);
    expect((await runForTest(["train", "--name", "a"])).code).toBe(2);
  });

  it("with --follow waits, streams the log and exits 12 when the job fails", async () => {
    const phases = ["QUEUED", "RUNNING", "FAILED"] as const;
    let polls = 0;
    const result = await runForTest(["train", "--name", "a", "--follow", "--", "false"], (request) => {
      if (request.method === "POST") return job();
      if (request.path.endsWith("/logs")) return new Response("epoch 1\nboom\n", { headers: { "content-type": "text/plain" } });
      const phase = phases[Math.min(polls++, phases.length - 1)]!;
      return job({
        phase,
        startedAt: phase === "QUEUED" ? null : 1_700_000_000_000,
        finishedAt: phase === "FAILED" ? 1_700_000_072_000 : null,
        exitCode: phase === "FAILED" ? 1 : null,
        pending: phase === "QUEUED" ? { reason: "not enough free GPUs", resources: [] } : undefined,
      });
    });
    expect(result.stdout).toBe("epoch 1\nboom\n");
    expect(result.stderr).toContain("queued: not enough free GPUs");
    expect(result.stderr).toContain("job job_1 failed after 1m12s (exit code 1)");
    expect(result.code).toBe(12);
    const logs = result.requests.find((r) => r.path.endsWith("/logs"));
    expect(logs?.query).toEqual({ follow: "true", attempt: "1" });
  });
});
