// A sweep across kill -9 of `paved up` (issue 13, item 5): the restarted server carries the sweep on
// from the database (trials reserved before their jobs are submitted, under the reserved job id), so
// no trial is lost and none is submitted or run twice. Both dialects.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_sweeps-restart-token-0123456789";

async function api(server: ServerProcess, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 2400; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} never happened`);
}

describe.each(testDialects())("a sweep across kill -9 of paved up (%s)", (dialect) => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("continues after restarts without losing or duplicating a trial", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-sweep-restart-"));
    const dataDir = join(root, "data");
    const mark = join(root, "starts.log");
    const go = join(root, "go");
    writeFileSync(
      join(root, "trial.py"),
      `import os, sys, time
x = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--x=")][0]
with open(${JSON.stringify(mark)}, "a") as f:
    f.write(f"{os.environ['PAVED_JOB_ID']} {x}\\n")
print(f"paved.metric loss={(float(x) - 4) ** 2} step=0", flush=True)
while not os.path.exists(${JSON.stringify(go)}):
    time.sleep(0.05)
`,
    );
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    const config = { sweeps: { intervalSeconds: 0.2 }, ...(databaseUrl ? { databaseUrl } : {}) };
    const start = () => startServerProcess({ dataDir, token: TOKEN, config });
    server = await start();
    const created = await api(server, "POST", "/api/v1/sweeps", {
      name: "crash-sweep",
      method: "grid",
      objective: { metric: "loss", goal: "minimize" },
      parameters: { x: { values: [1, 2, 3, 4, 5, 6] } },
      parallelism: 2,
      trial: { command: ["/usr/bin/python3", "trial.py"], workingDir: root, compute: { cpus: 0.5, memory: 64 } },
    });
    const sweep = (s: ServerProcess) => api(s, "GET", `/api/v1/sweeps/${created.id}`);
    await waitFor("two trials running", async () => ((await sweep(server!)).trials.filter((t: { phase: string }) => t.phase === "RUNNING").length === 2 ? true : undefined));

    // Killed while two trials run: the restarted server adopts them and starts no others in their place.
    await server.kill9();
    server = await start();
    writeFileSync(go, "");
    // Killed again while later trials are being started.
    await waitFor("a third trial", async () => ((await sweep(server!)).trials.length >= 3 ? true : undefined));
    await server.kill9();
    server = await start();

    const done = await waitFor("the sweep to end", async () => {
      const s = await sweep(server!);
      return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(s.phase) ? s : undefined;
    });
    expect(done.phase, JSON.stringify(done.trials)).toBe("SUCCEEDED");
    expect(done.trials.map((t: { index: number }) => t.index)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(done.trials.map((t: { params: { x: number } }) => t.params.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(done.trials.every((t: { phase: string }) => t.phase === "SUCCEEDED")).toBe(true);
    expect(done.best, JSON.stringify(done.trials)).toMatchObject({ index: 4, value: 0 });
    // One job per trial, each run once.
    const jobs = (await api(server, "GET", "/api/v1/jobs?limit=1000")).jobs.filter((j: { name: string }) => j.name.startsWith("crash-sweep-"));
    expect(jobs.map((j: { name: string }) => j.name).sort()).toEqual([1, 2, 3, 4, 5, 6].map((n) => `crash-sweep-${n}`));
    expect(new Set(jobs.map((j: { id: string }) => j.id))).toEqual(new Set(done.trials.map((t: { jobId: string }) => t.jobId)));
    expect(existsSync(mark)).toBe(true);
    const starts = readFileSync(mark, "utf8").trim().split("\n");
    expect(starts.map((l) => l.split(" ")[1]).sort()).toEqual(["1", "2", "3", "4", "5", "6"]);
    // The experiment holds the parent run and one child run per trial, no more.
    const runs = (await api(server, "POST", "/api/2.0/mlflow/runs/search", { experiment_ids: [done.experimentId], max_results: 100 })).runs;
    expect(runs).toHaveLength(7);
  }, 240_000);
});
