// The real `paved` binary, run as a child process against a real server started in-process.
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";

const BIN = new URL("../bin/paved.js", import.meta.url).pathname;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let app: App;
let url: string;
let token: string;
let dir: string;

function paved(args: string[], opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd ?? dir,
      env: { PATH: process.env.PATH ?? "", HOME: join(dir, "home"), PAVED_URL: url, PAVED_TOKEN: token, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? "");
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-cli-"));
  const config = loadConfig({
    env: {},
    overrides: { dataDir: join(dir, "data"), port: 0, logLevel: "silent", compute: { gpus: [], systemMetricsInterval: 1 } },
  });
  app = await createApp(config, { env: process.env });
  url = await app.listen();
  token = app.generatedAdminToken!;
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("paved CLI against a real server", () => {
  it("lists experiments as JSON", async () => {
    const result = await paved(["experiments", "ls", "--json"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout) as { experiments: { name: string }[] };
    expect(Array.isArray(body.experiments)).toBe(true);
  });

  it("lists compute profiles as a table", async () => {
    const result = await paved(["profiles", "ls"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n")[0]).toMatch(/^NAME +GPUS +GPU TYPE +CPUS +MEMORY/);
  });

  it("exits with the UNAUTHENTICATED code for a bad token", async () => {
    const result = await paved(["experiments", "ls"], { env: { PAVED_TOKEN: "pvd_wrong" } });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain("[UNAUTHENTICATED]");
    expect(result.stdout).toBe("");
  });

  it("exits with the UNAVAILABLE code when no server answers", async () => {
    const result = await paved(["jobs", "ls"], { env: { PAVED_URL: "http://127.0.0.1:9" } });
    expect(result.code).toBe(11);
    expect(result.stderr).toContain("paved up");
  });

  it("logs in from stdin, stores the token 0600 and uses it afterwards", async () => {
    const home = join(dir, "login-home");
    const env = { HOME: home, PAVED_URL: "", PAVED_TOKEN: "" };
    const login = await paved(["login", "--url", url], { env, stdin: `${token}\n` });
    expect(login.stderr).toBe("");
    expect(login.code).toBe(0);
    expect((await stat(join(home, ".config", "paved", "credentials.json"))).mode & 0o777).toBe(0o600);
    const whoami = await paved(["whoami", "--json"], { env });
    expect(whoami.code).toBe(0);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ url, name: "admin", platformAdmin: true, teams: [{ team: "default", role: "admin" }] });
    const refused = await paved(["login", "--url", url], { env, stdin: "pvd_wrong\n" });
    expect(refused.code).toBe(5);
  });

  it("apply rejects an unknown kind with INVALID_INPUT", async () => {
    await writeFile(join(dir, "weird.yaml"), "kind: Model\nname: x\n");
    const result = await paved(["apply", "-f", "weird.yaml"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("known kinds: Job");
  });

  it("runs a job from a spec file to a recorded run", async () => {
    await writeFile(
      join(dir, "job.yaml"),
      [
        "kind: Job",
        "name: cli-e2e",
        "experiment: cli-e2e",
        "command:",
        `  - ${JSON.stringify(process.execPath)}`,
        "  - -e",
        `  - "console.log('paved.metric loss=0.5 step=1')"`,
        "compute: { cpus: 1 }",
        "",
      ].join("\n"),
    );
    const applied = await paved(["apply", "-f", "job.yaml"]);
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    const id = /^job (\S+) queued; follow with `paved logs -f \1`$/m.exec(applied.stdout)?.[1];
    expect(id).toBeDefined();

    // `logs -f` waits while the job is queued, streams it, and returns once it has ended.
    const followed = await paved(["logs", "-f", id!]);
    expect(followed.code).toBe(0);
    expect(followed.stdout).toContain("paved.metric loss=0.5 step=1");
    expect(followed.stderr).toMatch(new RegExp(`job ${id} succeeded`));

    const described = await paved(["jobs", "describe", id!, "--json"]);
    expect(described.code).toBe(0);
    const job = JSON.parse(described.stdout) as { phase: string; runId: string | null; exitCode: number | null };
    expect(job).toMatchObject({ phase: "SUCCEEDED", exitCode: 0 });

    const human = await paved(["jobs", "describe", id!]);
    expect(human.stdout).toMatch(/Phase: +SUCCEEDED/);

    const logs = await paved(["logs", id!]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("paved.metric loss=0.5 step=1");

    const run = await paved(["runs", "show", job.runId!, "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ id: job.runId, jobId: id, metrics: { loss: { value: 0.5, step: 1 } } });
    const shown = await paved(["runs", "show", job.runId!]);
    expect(shown.stdout).toMatch(/loss +0\.5 +1/);

    const listed = await paved(["jobs", "ls"]);
    expect(listed.stdout).toMatch(new RegExp(`${id} +cli-e2e +default +SUCCEEDED`));
  });

  it("train --follow streams the log and exits 0 when the job succeeds", async () => {
    const result = await paved(["train", "--name", "follow-e2e", "--cpus", "1", "--follow", "--", process.execPath, "-e", "console.log('hello from the job')"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("hello from the job");
    expect(result.stderr).toMatch(/job \S+ succeeded/);
  });
});
