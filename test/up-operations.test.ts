// Issue 7, item 17: operating `paved up` — real processes. A second `paved up` on the same data
// dir is refused and names the first (on one PostgreSQL database it follows the first instead); a taken port is CONFLICT, not
// INTERNAL; a typo in a YAML spec or configuration names every unknown field with "did you mean".
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { freePort, startServerProcess, type ServerProcess } from "./support/server-process.ts";
import { testPostgresUrl } from "./support/databases.ts";

const BIN = new URL("../bin/paved.js", import.meta.url).pathname;
const TOKEN = "pvd_up_operations_test_token";
const root = mkdtempSync(join(tmpdir(), "paved-up-"));
const servers: ServerProcess[] = [];

/** Runs `paved …` to its end (for starts that are expected to be refused). */
function paved(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, PAVED_ADMIN_TOKEN: TOKEN, PAVED_LOG_LEVEL: "warn", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`paved ${args.join(" ")} did not exit within 30 s:\n${output}`));
    }, 30_000);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

async function start(dataDir: string, config: Record<string, unknown> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({ dataDir, token: TOKEN, config });
  servers.push(server);
  return server;
}

afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("paved up on a data dir another paved up holds (issue 7, item 17)", () => {
  it("refuses a second start, naming the first (pid, URL), and leaves the first serving", async () => {
    const dataDir = join(root, "shared");
    const first = await start(dataDir);
    const second = await paved(["up", "--port", String(await freePort()), "--data-dir", dataDir]);
    expect(second.code).toBe(4);
    expect(second.output).toContain("[CONFLICT]");
    expect(second.output).toContain(`pid ${first.child.pid}`);
    expect(second.output).toContain(first.url);
    expect((await fetch(`${first.url}/api/v1/health`)).ok).toBe(true);
    expect(JSON.parse(readFileSync(join(dataDir, "paved.lock"), "utf8"))).toMatchObject({ pid: first.child.pid, url: first.url });
  });

  it("starts after the holder stopped, or died without cleaning up (kill -9)", async () => {
    const dataDir = join(root, "restart");
    const first = await start(dataDir);
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    expect(existsSync(join(dataDir, "paved.lock"))).toBe(false);
    const second = await start(dataDir);
    await second.kill9();
    servers.splice(servers.indexOf(second), 1);
    expect(existsSync(join(dataDir, "paved.lock"))).toBe(true);
    const third = await start(dataDir);
    expect((await fetch(`${third.url}/api/v1/health`)).ok).toBe(true);
  });

  it("does not mistake a recycled pid for the holder (same pid, later start time)", async () => {
    const dataDir = join(root, "recycled");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(dataDir, { recursive: true });
    // This test's own pid is alive, but it is not the process that took the lock at start time 1.
    writeFileSync(join(dataDir, "paved.lock"), JSON.stringify({ pid: process.pid, host: (await import("node:os")).hostname(), processStart: "1", since: "2020-01-01T00:00:00.000Z", url: "http://127.0.0.1:1" }));
    const server = await start(dataDir);
    expect((await fetch(`${server.url}/api/v1/health`)).ok).toBe(true);
  });
});

describe("paved up on a port in use (issue 7, item 17)", () => {
  let blocker: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve())));

  it("says the port is in use and by whom, with CONFLICT (exit 4), and releases the data dir", async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) => blocker!.listen(0, "127.0.0.1", () => resolve((blocker!.address() as { port: number }).port)));
    const dataDir = join(root, "port");
    const result = await paved(["up", "--port", String(port), "--data-dir", dataDir]);
    expect(result.code).toBe(4);
    expect(result.output).toContain("[CONFLICT]");
    expect(result.output).not.toContain("INTERNAL");
    expect(result.output).toContain(`port ${port}`);
    expect(result.output).toContain(`pid ${process.pid}`);
    expect(existsSync(join(dataDir, "paved.lock"))).toBe(false);
  });
});

describe("typos in YAML (issue 7, item 17)", () => {
  it("paved apply names every unknown field of a spec with two typos, each with did you mean", async () => {
    const server = await start(join(root, "typos"));
    const file = join(root, "job.yaml");
    writeFileSync(file, "kind: Job\nname: typo\ncomand: [echo, hi]\ncommand: [echo, hi]\nretry:\n  maxAtempts: 3\n");
    const result = await paved(["apply", "-f", file], { PAVED_URL: server.url, PAVED_TOKEN: TOKEN });
    expect(result.code).toBe(2);
    expect(result.output).toContain("[INVALID_INPUT]");
    expect(result.output).toContain(file);
    expect(result.output).toMatch(/comand: unknown field; did you mean 'command'\?/);
    expect(result.output).toMatch(/retry\.maxAtempts: unknown field; did you mean 'maxAttempts'\?/);
  });

  it("paved up names every unknown field of its configuration file", async () => {
    const config = join(root, "paved.yaml");
    writeFileSync(config, stringify({ logLevl: "warn", compute: { gpu: [] } }));
    const result = await paved(["up", "--port", "0", "--data-dir", join(root, "config-typo"), "--config", config]);
    expect(result.code).toBe(10);
    expect(result.output).toContain("[CONFIG]");
    expect(result.output).toMatch(/logLevl: unknown field; did you mean 'logLevel'\?/);
    expect(result.output).toMatch(/compute\.gpu: unknown field; did you mean 'gpus'\?/);
  });
});

describe.skipIf(!process.env.PAVED_TEST_DATABASE_URL)("paved up on a PostgreSQL database another paved up leads (issue 14, item 4)", () => {
  it("follows it: answers through it, and leads as soon as it stops", async () => {
    const databaseUrl = await testPostgresUrl();
    const first = await start(join(root, "pg-a"), { databaseUrl });
    // Another data dir, or the same one (replicas may share it).
    const second = await start(join(root, "pg-b"), { databaseUrl });
    // Printed just after /health first answers.
    for (let i = 0; i < 100 && !second.output().includes("another replica leads"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(first.output()).toContain("this replica leads the control plane (epoch 1)");
    expect(second.output()).toContain("another replica leads the control plane");
    const health = async (s: ServerProcess) => (await (await fetch(`${s.url}/api/v1/health`)).json()) as { role: string };
    expect([(await health(first)).role, (await health(second)).role]).toEqual(["leader", "follower"]);
    // A write sent to the follower is done by the leader, with the caller's token checked there.
    const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
    const created = await fetch(`${second.url}/api/2.0/mlflow/experiments/create`, { method: "POST", headers, body: JSON.stringify({ name: "through-the-follower" }) });
    expect(created.status).toBe(200);
    const refused = await fetch(`${second.url}/api/2.0/mlflow/experiments/create`, { method: "POST", headers: { ...headers, authorization: "Bearer pvd_wrong_token_0123456789" }, body: "{}" });
    expect(refused.status).toBe(401);
    // SIGTERM: the leader steps down and the follower takes over within a poll.
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    for (let i = 0; i < 100 && (await health(second)).role !== "leader"; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await health(second)).role).toBe("leader");
    const read = await fetch(`${second.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=through-the-follower`, { headers });
    expect(read.status).toBe(200);
  });
});
