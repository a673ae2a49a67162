// `paved quotas ls|set`, `paved resources` and `paved jobs describe` against a real server: a
// platform admin sets a team's quota, the team's second GPU job waits, and describe says which
// quota, what uses it and the fix; a developer who tries to set a quota gets exit code 6 (FORBIDDEN).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { EXIT_CODES } from "../src/cli/exit-codes.ts";
import { loadConfig } from "../src/config/index.ts";
import { runPaved } from "./support/cli.ts";

let app: App;
let url: string;
let dir: string;
let ada: string;

const paved = (args: string[], token = app.generatedAdminToken!) => runPaved(args, { url, token, dir });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-quotas-cli-"));
  app = await createApp(
    loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [{ index: 0, name: "NVIDIA H100" }, { index: 1, name: "NVIDIA H100" }], cpus: 4, memoryMiB: 4096, python: "/nonexistent/python3" } } }),
    { env: {} },
  );
  url = await app.listen();
  expect((await paved(["teams", "create", "risk"])).code).toBe(0);
  const user = await app.server.inject({ method: "POST", url: "/api/v1/users", headers: { authorization: `Bearer ${app.generatedAdminToken}` }, payload: { name: "ada", teams: [{ team: "risk", role: "developer" }] } });
  ada = (await app.tokens.createPersonal({ userId: user.json().id, name: "cli" })).token;
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("paved quotas", () => {
  it("sets a team's quota (platform admins), shows each limit with its source, and refuses a developer with exit code 6", async () => {
    const set = await paved(["quotas", "set", "risk", "--gpus", "1", "--gpu-type", "H100=1", "--storage", "500Gi", "--cpus", "unlimited"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toMatch(/^Team risk \(set by admin/);
    expect(set.stdout).toMatch(/\nGPUs\s+1\s+0\s+team\s+-\n/);
    expect(set.stdout).toMatch(/\nH100 GPUs\s+1\s+0\s+team/);
    expect(set.stdout).toMatch(/\nartifact storage\s+500 GiB\s+0 B\s+team/);
    expect(set.stdout).toMatch(/\nCPUs\s+unlimited\s+0\s+none/);
    // A flag not given keeps its value; `default` drops one.
    const again = JSON.parse((await paved(["quotas", "set", "risk", "--storage", "default", "--json"])).stdout);
    expect(again.settings).toEqual({ gpus: 1, gpusByType: { H100: 1 }, cpus: null });
    const refused = await paved(["quotas", "set", "risk", "--gpus", "8"], ada);
    expect(refused.code).toBe(EXIT_CODES.FORBIDDEN);
    expect(refused.stderr).toMatch(/platform admin/);
    const bad = await paved(["quotas", "set", "risk", "--gpus", "two"]);
    expect(bad.code).toBe(EXIT_CODES.INVALID_INPUT);
    expect((await paved(["quotas", "ls"], ada)).stdout).toMatch(/^Team risk/);
  });

  it("describes a job waiting for its team's quota: which quota, what uses it, the fix; resources shows the machine and the team's use", async () => {
    const submit = async (name: string) => {
      const out = await paved(["train", "--name", name, "--gpus", "1", "--cpus", "0.5", "--memory", "64Mi", "--json", "--", "sleep", "300"], ada);
      expect(out.code, out.stderr).toBe(0);
      return JSON.parse(out.stdout).id as string;
    };
    const first = await submit("train-a");
    const second = await submit("train-b");
    for (let i = 0; i < 400; i++) {
      const job = await app.server.inject({ method: "GET", url: `/api/v1/jobs/${second}`, headers: { authorization: `Bearer ${ada}` } });
      if (job.json().pending?.quota) break;
      await sleep(25);
    }
    const described = await paved(["jobs", "describe", second], ada);
    expect(described.code, described.stderr).toBe(0);
    expect(described.stdout).toContain(`Waiting: team risk uses 1 of its 1 GPU (job ${first} (train-a): 1)`);
    expect(described.stdout).toMatch(/QUOTA\s+LIMIT\s+USED\s+REQUESTED\s+USED BY\n\s*team risk: GPUs\s+1\s+1\s+1\s+train-a/);
    expect(described.stdout).toContain("Fix: paved quotas set risk --gpus 2 (a platform admin), or wait for the jobs using it");
    expect(described.stdout).toMatch(/Priority:\s+0 \(normal; preemptible\)/);

    const resources = await paved(["resources"], ada);
    expect(resources.code, resources.stderr).toBe(0);
    expect(resources.stdout).toMatch(/GPUs:\s+1 of 2 free/);
    expect(resources.stdout).toMatch(new RegExp(`NVIDIA H100\\s+16Gi\\s+train-a \\(${first}, team risk\\)`));
    expect(resources.stdout).toMatch(new RegExp(`\\nGPUs\\s+1\\s+1\\s+team\\s+train-a \\(${first}\\): 1`));
    for (const id of [first, second]) await paved(["jobs", "cancel", id], ada);
  });
});
