// A crash during submissions (issue 13): `paved up` killed with -9 between claiming resources for an
// acknowledged job (STARTING) and starting its process. That attempt never started: the restarted
// server must start it as the same attempt, not count it as vanished (a job with maxAttempts 1
// used to end FAILED, "attempt 1 vanished … no attempts are left", without ever having run).
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_restart-submissions-token-0123";

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

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("kill -9 of paved up during submissions", () => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("starts an attempt that never started as the same attempt, without spending its only try", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-crashloop-"));
    const dataDir = join(root, "data");
    const program = join(root, "job.mjs");
    writeFileSync(program, `import { appendFileSync } from "node:fs";\nappendFileSync(process.env.MARK, "start " + process.env.PAVED_ATTEMPT + "\\n");\n`);
    const submit = (s: ServerProcess, name: string, mark: string) =>
      api(s, "POST", "/api/v1/jobs", { name, command: [process.execPath, program], workingDir: root, env: { MARK: mark }, retry: { maxAttempts: 1 } });
    const phaseOf = async (s: ServerProcess, id: string) => (await api(s, "GET", `/api/v1/jobs/${id}`)) as { phase: string; attempt: number; message: string | null };

    server = await startServerProcess({ dataDir, token: TOKEN });
    const first = server;
    // A first job starts the server's spawner (the helper process that starts jobs).
    const warm = await submit(first, "warm", join(root, "warm.txt"));
    await waitFor("the first job to end", async () => ((await phaseOf(first, warm.id)).phase === "SUCCEEDED" ? true : undefined));
    const spawner = childrenOf(first.child.pid!).find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("spawner-process.js"));
    expect(spawner).toBeDefined();
    // Frozen, the spawner holds the next start between the claim (STARTING) and its process:
    // the window a kill -9 during a burst of submissions lands in.
    process.kill(spawner!, "SIGSTOP");
    const mark = join(root, "never-started.txt");
    const job = await submit(first, "never-started", mark);
    await waitFor("the job to be claimed", async () => ((await phaseOf(first, job.id)).phase === "STARTING" ? true : undefined));
    await first.kill9();
    process.kill(spawner!, "SIGKILL");
    expect(existsSync(mark)).toBe(false);

    server = await startServerProcess({ dataDir, token: TOKEN });
    const second = server;
    const done = await waitFor(`job ${job.id} to end`, async () => {
      const j = await phaseOf(second, job.id);
      return ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.phase) ? j : undefined;
    });
    expect({ phase: done.phase, message: done.message }).toEqual({ phase: "SUCCEEDED", message: "attempt 1 exited with code 0" });
    expect(done.attempt).toBe(1);
    expect(readFileSync(mark, "utf8").trim().split("\n")).toEqual(["start 1"]);
    const events = (await api(second, "GET", `/api/v1/jobs/${job.id}`)).events as { type: string }[];
    expect(events.map((e) => e.type)).toContain("NotStarted");
  }, 120_000);
});
