// A sweep whose trials run on Slurm (issue 13, item 5: "trials on any executor"): the trial template
// names a profile of the slurm executor, and each trial is a task of a Slurm job array (trials
// started together go as one `sbatch --array`) on a real single-node Slurm this test starts, tracked
// as a child run. Skipped, with the reason, where Slurm cannot run.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";
import { slurmUnavailable, startTestSlurm, type TestSlurm } from "./support/slurm.ts";

const TOKEN = "pvd_sweeps-slurm-token-0123456789";
const skip = slurmUnavailable();

async function ok(server: ServerProcess, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

describe.skipIf(skip !== undefined)(`a sweep on Slurm${skip ? ` (skipped: ${skip})` : ""}`, () => {
  let slurm: TestSlurm;
  let server: ServerProcess;
  let root: string;

  beforeAll(async () => {
    slurm = await startTestSlurm({ gpus: 0, cpus: 8 });
    root = mkdtempSync(join(tmpdir(), "paved-sweep-slurm-"));
    const profilesFile = join(root, "profiles.yaml");
    writeFileSync(
      profilesFile,
      stringify({
        profiles: {
          cpu: { description: "the default", cpus: 1, memory: "1Gi" },
          "slurm-small": { description: "a small Slurm job", executor: "slurm", cpus: 1, memory: "64Mi" },
        },
      }),
    );
    server = await startServerProcess({
      dataDir: join(root, "data"),
      token: TOKEN,
      config: { compute: { gpus: [], systemMetricsInterval: 1, profilesFile, slurm: { conf: slurm.conf, pollSeconds: 0.3, maxRetrySeconds: 2 } }, sweeps: { intervalSeconds: 0.2 } },
    });
  }, 180_000);

  afterAll(async () => {
    await server?.stop().catch(() => undefined);
    await slurm?.stop();
  });

  it("runs each trial as a Slurm job and reports the best", async () => {
    writeFileSync(join(root, "trial.py"), `import os, sys\nprint("slurm=" + os.environ.get("SLURM_JOB_ID", "none"), flush=True)\nx = float([a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--x=")][0])\nprint(f"paved.metric acc={1 - abs(x - 2) / 10} step=1", flush=True)\n`);
    const created = await ok(server, "POST", "/api/v1/sweeps", {
      name: "slurm-grid",
      method: "grid",
      objective: { metric: "acc", goal: "maximize" },
      parameters: { x: { values: [1, 2, 3] } },
      parallelism: 3,
      trial: { command: ["/usr/bin/python3", "trial.py"], workingDir: root, compute: { profile: "slurm-small" } },
    });
    let done: any;
    for (let i = 0; i < 1200 && !["SUCCEEDED", "FAILED", "CANCELLED"].includes((done = await ok(server, "GET", `/api/v1/sweeps/${created.id}`)).phase); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(done.phase, JSON.stringify(done.trials)).toBe("SUCCEEDED");
    expect(done.best).toMatchObject({ index: 2, params: { x: 2 }, value: 1 });
    const slurmIds: string[] = [];
    for (const t of done.trials) {
      const job = await ok(server, "GET", `/api/v1/jobs/${t.jobId}`);
      expect(job.request.executor).toBe("slurm");
      slurmIds.push(/submitted to slurm as job (\S+)/.exec(job.events.map((e: { message: string }) => e.message).join("\n"))![1]!);
      // Its process ran under Slurm.
      const log = await (await fetch(`${server.url}/api/v1/jobs/${t.jobId}/logs`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      expect(log).toMatch(/slurm=\d+/);
    }
    // The three trials, started together, went to Slurm as one job array (sbatch --array), a task each.
    const arrays = new Set(slurmIds.map((id) => id.split("_")[0]));
    expect(slurmIds.every((id) => /^\d+_[0-2]$/.test(id)), slurmIds.join(" ")).toBe(true);
    expect(arrays.size, slurmIds.join(" ")).toBe(1);
    expect(new Set(slurmIds).size).toBe(3);
  }, 240_000);
});
