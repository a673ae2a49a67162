// A pipeline run across kill -9 of `paved up` (issue 10, item 3): the restarted server carries the
// run on from the database. A finished step is not run again, a running job step's job is adopted
// (not submitted twice), and the steps after it start once. Both dialects.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_pipelines-restart-token-0123456789";

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

describe.each(testDialects())("a pipeline run across kill -9 of paved up (%s)", (dialect) => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("resumes from the database without re-running finished steps or doubling a running one", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-pipeline-restart-"));
    const dataDir = join(root, "data");
    const mark = join(root, "starts.log");
    const go = join(root, "go");
    writeFileSync(
      join(root, "step.py"),
      `import os, sys, time
name = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--name=")][0]
with open(${JSON.stringify(mark)}, "a") as f:
    f.write(f"{name} {os.environ['PAVED_JOB_ID']}\\n")
if name == "wait":
    while not os.path.exists(${JSON.stringify(go)}):
        time.sleep(0.05)
`,
    );
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    const config = { pipelines: { intervalSeconds: 0.2 }, ...(databaseUrl ? { databaseUrl } : {}) };
    const start = () => startServerProcess({ dataDir, token: TOKEN, config });
    server = await start();
    const job = (name: string) => ({ command: ["/usr/bin/python3", "step.py"], workingDir: root, compute: { cpus: 0.25, memory: 64 }, hyperparameters: { name } });
    await api(server, "POST", "/api/v1/pipelines", {
      kind: "Pipeline",
      metadata: { name: "crash-pipeline" },
      spec: {
        steps: [
          { name: "first", job: job("first") },
          { name: "wait", dependsOn: ["first"], job: job("wait") },
          { name: "last", job: job("last"), dependsOn: ["wait"] },
          { name: "report", echo: { wait_run: "${{ steps.wait.outputs.run_id }}" }, dependsOn: ["last"] },
        ],
      },
    });
    const created = await api(server, "POST", "/api/v1/pipelines/crash-pipeline/runs", { parameters: {} });
    const run = (s: ServerProcess) => api(s, "GET", `/api/v1/pipeline-runs/${created.id}`);
    const stepOf = (r: any, key: string) => r.steps.find((s: { key: string }) => s.key === key);
    await pollUntil("the wait step's job to run", async () => {
      const r = await run(server!);
      return stepOf(r, "wait").handle ? (await api(server!, "GET", `/api/v1/jobs/${stepOf(r, "wait").handle}`)).phase : "none";
    }, (phase) => phase === "RUNNING");

    // Killed while `wait` runs: the restarted server adopts its job and starts no other in its place.
    await server.kill9();
    server = await start();
    writeFileSync(go, "");
    // Killed again as the last steps are started.
    await pollUntil("the last step to start", async () => stepOf(await run(server!), "last").phase, (p) => p !== "pending");
    await server.kill9();
    server = await start();

    const done = await pollUntil("the run to end", () => run(server!), (r) => ["SUCCEEDED", "FAILED", "CANCELLED"].includes(r.phase), { timeoutMs: 120_000 });
    expect(done.phase, JSON.stringify(done.steps)).toBe("SUCCEEDED");
    expect(done.steps.map((s: { phase: string; attempt: number }) => `${s.phase}/${s.attempt}`)).toEqual(["succeeded/1", "succeeded/1", "succeeded/1", "succeeded/1"]);
    expect(existsSync(mark)).toBe(true);
    // Each job step ran once, as the job the step recorded.
    const starts = readFileSync(mark, "utf8").trim().split("\n").map((l) => l.split(" "));
    expect(starts.map(([name]) => name)).toEqual(["first", "wait", "last"]);
    expect(starts.map(([, jobId]) => jobId)).toEqual(["first", "wait", "last"].map((k) => stepOf(done, k).handle));
    expect(stepOf(done, "report").outputs.wait_run).toBe(stepOf(done, "wait").outputs.run_id);
  }, 240_000);
});
