// What a job can see of the server, against a real app (createApp, listening) running real jobs:
// the environment is an allow-list (the server's secrets never reach a job or its log artifact),
// a job's own `env` values are shown to no one and recorded nowhere, the code snapshot leaves
// credentials out, and with compute.runAs a job runs as another OS user that cannot read the
// database or the server's process.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { configSchema, type ConfigInput } from "../src/config/index.ts";
import { pino } from "pino";
import { createLogger, type Logger } from "../src/core/index.ts";
import { resolveRunAs } from "../src/modules/compute/run-as.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";

const TOKEN = "pvd_confinement-admin-token-0123456789";
const isRoot = process.getuid?.() === 0;
const apps: App[] = [];
// Closing waits for each app's jobs to stop; under a loaded machine that outlasts the default 60 s.
afterAll(async () => {
  await Promise.all(apps.map((app) => app.close().catch(() => undefined)));
}, 180_000);

interface Running {
  app: App;
  dataDir: string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T; text: string; headers: Headers }>;
  submit(spec: Record<string, unknown>): Promise<any>;
  waitForEnd(id: string): Promise<any>;
  artifact(runId: string, path: string): Promise<string>;
}

async function start(
  opts: { env?: Record<string, string | undefined>; compute?: Record<string, unknown>; databaseUrl?: string; dataDir?: string; logger?: Logger } = {},
): Promise<Running> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "paved-confine-"));
  const input: ConfigInput = {
    dataDir,
    port: 0,
    logLevel: "silent",
    ...(opts.databaseUrl ? { databaseUrl: opts.databaseUrl } : {}),
    auth: { adminToken: TOKEN },
    compute: { gpus: [], cpus: 2, memoryMiB: 4096, python: "/nonexistent/python3", systemMetricsInterval: 60, ...opts.compute },
  };
  const app = await createApp(configSchema.parse(input), { env: opts.env ?? {}, logger: opts.logger ?? createLogger("silent") });
  apps.push(app);
  const url = await app.listen();
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
  const running: Running = {
    app,
    dataDir,
    api,
    async submit(spec) {
      const res = await api("POST", "/api/v1/jobs", { hyperparameterArgs: false, compute: { cpus: 1, memory: 64 }, ...spec });
      if (res.status !== 200) throw new Error(`submit: ${res.status} ${res.text}`);
      return res.json;
    },
    async waitForEnd(id) {
      for (let i = 0; i < 1200; i++) {
        const job = (await api("GET", `/api/v1/jobs/${id}`)).json;
        if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase)) return job;
        await sleep(50);
      }
      throw new Error(`job ${id} did not end`);
    },
    async artifact(runId, path) {
      for (let i = 0; i < 400; i++) {
        const res = await api("GET", `/api/v1/runs/${runId}/artifacts/content?path=${encodeURIComponent(path)}`);
        if (res.status === 200) return res.text;
        await sleep(50);
      }
      throw new Error(`artifact ${path} of run ${runId} never appeared`);
    },
  };
  return running;
}

function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "paved-confine-work-"));
  // mkdtemp makes 0700 folders; jobs under runAs must be able to enter it.
  chmodSync(dir, 0o755);
  return dir;
}

// What `paved up` typically has in its environment: its own settings and a cloud credential.
const SERVER_ENV = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  LANG: "C.UTF-8",
  PAVED_ADMIN_TOKEN: TOKEN,
  PAVED_DATABASE_URL: "postgres://paved:db-password-4711@db.internal/paved",
  AWS_SECRET_ACCESS_KEY: "aws-secret-key-0815",
  MLFLOW_TRACKING_TOKEN: "the-servers-own-mlflow-token",
  SITE_PROXY_CONFIG: "site-value",
};

describe("a job's environment", () => {
  it("holds no server secret (PAVED_*, database URL, cloud keys), in its output or its log artifact", async () => {
    const server = await start({ env: SERVER_ENV });
    const job = await server.submit({ name: "print-env", workingDir: workDir(), command: ["/bin/sh", "-c", "env"] });
    const ended = await server.waitForEnd(job.id);
    expect(ended.phase).toBe("SUCCEEDED");
    const output = (await server.api("GET", `/api/v1/jobs/${job.id}/logs`)).text;
    const artifact = await server.artifact(job.runId, "logs/attempt-1.log");
    for (const text of [output, artifact]) {
      expect(text).toContain(`PAVED_JOB_ID=${job.id}`);
      expect(text).toContain("LANG=C.UTF-8");
      for (const secret of [TOKEN, "db-password-4711", "aws-secret-key-0815", "the-servers-own-mlflow-token"]) expect(text).not.toContain(secret);
      expect(text).not.toMatch(/^(PAVED_ADMIN_TOKEN|PAVED_DATABASE_URL|AWS_SECRET_ACCESS_KEY)=/m);
      // Not on the allow-list and not added by the admin.
      expect(text).not.toContain("SITE_PROXY_CONFIG");
    }
  });

  it("gets what the admin adds (passthrough and set), its profile's variables and its own env", async () => {
    const profiles = join(mkdtempSync(join(tmpdir(), "paved-profiles-")), "profiles.yaml");
    writeFileSync(profiles, stringify({ profiles: { cpu: { cpus: 1, memory: "64Mi", env: { PROFILE_VAR: "from-profile", SHARED: "profile" } } } }));
    const server = await start({
      env: SERVER_ENV,
      compute: { profilesFile: profiles, jobEnvironment: { passthrough: ["SITE_*"], set: { SITE_FIXED: "fixed", SHARED: "admin" } } },
    });
    const job = await server.submit({ name: "print-env", workingDir: workDir(), command: ["/bin/sh", "-c", "env"], compute: { profile: "cpu" }, env: { JOB_VAR: "job" } });
    expect((await server.waitForEnd(job.id)).phase).toBe("SUCCEEDED");
    const output = (await server.api("GET", `/api/v1/jobs/${job.id}/logs`)).text;
    expect(output).toMatch(/^SITE_PROXY_CONFIG=site-value$/m);
    expect(output).toMatch(/^SITE_FIXED=fixed$/m);
    expect(output).toMatch(/^PROFILE_VAR=from-profile$/m);
    expect(output).toMatch(/^SHARED=profile$/m);
    expect(output).toMatch(/^JOB_VAR=job$/m);
    expect(output).not.toContain("aws-secret-key-0815");
  });

  it("warns once at start, without compute.runAs, that jobs run as the server's user", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    await start({ env: SERVER_ENV, logger });
    const warnings = lines.map((l) => JSON.parse(l) as { msg: string }).filter((l) => /compute\.runAs/.test(l.msg));
    expect(warnings).toHaveLength(1);
  });

  it("refuses configuration that would pass the whole environment or Paved's own variables", async () => {
    for (const jobEnvironment of [{ passthrough: ["*"] }, { passthrough: ["PAVED_*"] }, { passthrough: ["MLFLOW_TRACKING_TOKEN"] }, { set: { PAVED_X: "1" } }]) {
      expect(configSchema.safeParse({ compute: { jobEnvironment } }).success).toBe(false);
    }
  });
});

describe.each(testDialects())("a job's env values and code snapshot (%s)", (dialect) => {
  it("masks env values in every response and artifact while the job gets the real value", async () => {
    const server = await start({ env: SERVER_ENV, ...(dialect === "postgres" ? { databaseUrl: await testPostgresUrl() } : {}) });
    const job = await server.submit({ name: "uses-secret", workingDir: workDir(), command: ["/bin/sh", "-c", 'echo "seen=$DB_PASSWORD"'], env: { DB_PASSWORD: "hunter2-secret" } });
    expect(job.spec.env).toEqual({ DB_PASSWORD: "****" });
    const ended = await server.waitForEnd(job.id);
    expect(ended.phase).toBe("SUCCEEDED");
    expect(ended.spec.env).toEqual({ DB_PASSWORD: "****" });
    expect((await server.api("GET", `/api/v1/jobs/${job.id}/logs`)).text).toBe("seen=hunter2-secret\n");
    const listed = (await server.api("GET", "/api/v1/jobs")).json.jobs.find((j: { id: string }) => j.id === job.id);
    expect(listed.spec.env).toEqual({ DB_PASSWORD: "****" });
    const spec = await server.artifact(job.runId, "spec.yaml");
    expect(spec).toContain("DB_PASSWORD");
    expect(spec).not.toContain("hunter2-secret");
    const run = (await server.api("GET", `/api/v1/runs/${job.runId}`)).text;
    expect(run).not.toContain("hunter2-secret");
    // Once the job has ended nothing needs the value: the stored spec no longer holds it.
    const row = await server.app.database.db.selectFrom("jobs").select("spec").where("job_id", "=", job.id).executeTakeFirstOrThrow();
    expect(row.spec).not.toContain("hunter2-secret");
  });

  it("leaves dotfiles and credentials out of the code snapshot of a folder outside git", async () => {
    const server = await start({ env: SERVER_ENV, compute: { python: "/usr/bin/python3" }, ...(dialect === "postgres" ? { databaseUrl: await testPostgresUrl() } : {}) });
    const dir = workDir();
    writeFileSync(join(dir, "train.py"), "print('train')\n");
    writeFileSync(join(dir, ".env"), "DB_PASSWORD=hunter2\n");
    mkdirSync(join(dir, ".ssh"));
    writeFileSync(join(dir, ".ssh", "id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    mkdirSync(join(dir, ".config", "paved"), { recursive: true });
    writeFileSync(join(dir, ".config", "paved", "credentials.json"), '{"token":"pvd_x"}\n');
    mkdirSync(join(dir, "conf"));
    writeFileSync(join(dir, "conf", "server.pem"), "-----BEGIN PRIVATE KEY-----\n");
    const job = await server.submit({ name: "snapshot", workingDir: dir, command: ["/bin/sh", "-c", "true"] });
    expect((await server.waitForEnd(job.id)).phase).toBe("SUCCEEDED");
    // The python environment is the capture's last step: once its tag is there, the snapshot is done.
    for (let i = 0; i < 400; i++) {
      const run = (await server.api("GET", `/api/v1/runs/${job.runId}`)).text;
      if (run.includes("paved.python.version")) break;
      await sleep(50);
    }
    const listing = async (path: string) => (await server.api("GET", `/api/v1/runs/${job.runId}/artifacts?path=${encodeURIComponent(path)}`)).json.files.map((f: { path: string }) => f.path);
    expect(await listing("code")).toEqual(["code/train.py"]);
  });
});

describe.skipIf(!isRoot)(`compute.runAs (${isRoot ? "jobs as user nobody" : "skipped: the tests do not run as root, and switching users needs root"})`, () => {
  it("runs a tracked job as the user, which cannot read the database nor the server's environment, and adopts it after a restart", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-runas-"));
    const compute = { runAs: "nobody", python: "/usr/bin/python3" };
    let server = await start({ env: SERVER_ENV, compute, dataDir });
    const dir = workDir();
    writeFileSync(
      join(dir, "train.py"),
      `import json, os, sys, time, urllib.request
def attempt(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "READ"
    except OSError as e:
        return type(e).__name__
print("uid=%d gid=%d groups=%s" % (os.getuid(), os.getgid(), os.getgroups()))
print("db=" + attempt(sys.argv[1]))
print("environ=" + attempt("/proc/%s/environ" % sys.argv[2]))
print("home=" + os.environ["HOME"])
open(os.path.join(os.environ["PAVED_CHECKPOINT_DIR"], "last.ckpt"), "w").write("1")
open(os.path.join(os.environ["PAVED_OUTPUT_DIR"], "model.txt"), "w").write("weights")
body = json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "metrics": [{"key": "acc", "value": 0.9, "timestamp": 0, "step": 1}]}).encode()
request = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-batch", data=body, method="POST",
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
urllib.request.urlopen(request, timeout=30).read()
print("logged", flush=True)
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
print("done")
`,
    );
    chmodSync(join(dir, "train.py"), 0o644);
    // Readable by the server (root), not by the job's user: it stays out of the snapshot.
    writeFileSync(join(dir, "notes.txt"), "root only\n");
    chmodSync(join(dir, "notes.txt"), 0o600);
    const gate = join(dir, "gate");
    const job = await server.submit({
      name: "as-nobody",
      workingDir: dir,
      command: ["/usr/bin/python3", "train.py", join(dataDir, "paved.db"), String(process.pid), gate],
    });
    for (let i = 0; i < 600; i++) {
      if ((await server.api("GET", `/api/v1/jobs/${job.id}/logs`)).text.includes("logged")) break;
      await sleep(50);
    }
    // A restart while the job runs: the new server adopts it.
    await server.app.close();
    server = await start({ env: SERVER_ENV, compute, dataDir });
    writeFileSync(gate, "");
    const ended = await server.waitForEnd(job.id);
    expect(ended.phase, JSON.stringify(ended)).toBe("SUCCEEDED");
    expect(ended.events.map((e: { type: string }) => e.type)).toContain("Adopted");
    const output = await server.artifact(job.runId, "logs/attempt-1.log");
    expect(output).toContain("uid=65534 gid=65534 groups=[]");
    expect(output).toContain("db=PermissionError");
    expect(output).toContain("environ=PermissionError");
    expect(output).toContain(`home=${join(dataDir, "jobs", job.id, "home")}`);
    expect(output).not.toContain(TOKEN);
    expect(await server.artifact(job.runId, "outputs/model.txt")).toBe("weights");
    const history = (await server.api("GET", `/api/v1/runs/${job.runId}/metrics/acc`)).json;
    expect(history.history.map((p: { value: number }) => p.value)).toEqual([0.9]);
    expect(await server.artifact(job.runId, "code/train.py")).toContain("def attempt");
    const code = (await server.api("GET", `/api/v1/runs/${job.runId}/artifacts?path=code`)).json.files.map((f: { path: string }) => f.path);
    expect(code).not.toContain("code/notes.txt");
  });
});

describe("compute.runAs configuration", () => {
  it("refuses to start unless the server is root, the user exists and is not root (CONFIG)", async () => {
    const config = configSchema.parse({ dataDir: mkdtempSync(join(tmpdir(), "paved-runas-")), port: 0, logLevel: "silent", compute: { gpus: [], runAs: "nobody" } });
    if (!isRoot) await expect(createApp(config, { logger: createLogger("silent") })).rejects.toMatchObject({ code: "CONFIG" });
    expect(() => resolveRunAs("nobody", 1000)).toThrow(expect.objectContaining({ code: "CONFIG" }));
    expect(() => resolveRunAs("no-such-user-here", 0)).toThrow(expect.objectContaining({ code: "CONFIG" }));
    expect(() => resolveRunAs("root", 0)).toThrow(expect.objectContaining({ code: "CONFIG" }));
    expect(resolveRunAs("nobody", 0)).toMatchObject({ name: "nobody", uid: 65534 });
  });
});
