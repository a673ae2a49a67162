import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { runPaved } from "./support/cli.ts";

/**
 * `paved pipelines` and `paved apply -f` with a Pipeline against a real server: a job step whose
 * workingDir is the YAML file's folder runs with a parameter given on the command line, and
 * status, logs, ls, runs and cancel show what the API has.
 */
describe("paved pipelines (CLI)", () => {
  let app: App;
  let url: string;
  let token: string;
  const dir = mkdtempSync(join(tmpdir(), "paved-pipelines-cli-"));
  const paved = (...args: string[]) => runPaved(args, { url, token, dir });

  beforeAll(async () => {
    mkdirSync(join(dir, "home"));
    writeFileSync(join(dir, "hello.py"), `import sys\nprint("hello from", sys.argv[1:], flush=True)\n`);
    writeFileSync(
      join(dir, "pipeline.yaml"),
      `apiVersion: paved/v1
kind: Pipeline
metadata: { name: hello }
spec:
  parameters: { who: world }
  steps:
    - name: greet
      job:
        command: [/usr/bin/python3, hello.py]
        hyperparameters: { who: "\${{ params.who }}" }
        compute: { cpus: 0.25, memory: 64 }
    - name: after
      echo: { run: "\${{ steps.greet.outputs.run_id }}" }
`,
    );
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir: mkdtempSync(join(tmpdir(), "paved-pipelines-cli-data-")), logLevel: "silent", compute: { gpus: [], cpus: 4, memoryMiB: 4096, systemMetricsInterval: 3600 }, pipelines: { intervalSeconds: 0.1 }, host: "127.0.0.1", port: 0 } }));
    url = await app.listen();
    const admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    expect((await app.server.inject({ method: "POST", url: "/api/v1/teams", headers: admin, payload: { name: "risk" } })).statusCode).toBe(200);
    const user = (await app.server.inject({ method: "POST", url: "/api/v1/users", headers: admin, payload: { name: "ada", teams: [{ team: "risk", role: "developer" }] } })).json();
    token = (await app.tokens.createPersonal({ userId: user.id, name: "ada-laptop" })).token;
  }, 120_000);
  afterAll(async () => app?.close());

  it("applies, runs with --param and --wait, and shows status, logs and listings", async () => {
    const applied = await paved("pipelines", "apply", "-f", "pipeline.yaml");
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain("pipeline hello applied (team risk, version 1, 2 steps)");
    // `paved apply` knows the kind too; the same spec leaves the version as it is.
    const again = await paved("apply", "-f", "pipeline.yaml", "--json");
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ name: "hello", version: 1 });

    const ran = await paved("pipelines", "run", "hello", "--param", "who=ada", "--wait", "--json");
    expect(ran.code, ran.stderr).toBe(0);
    const run = JSON.parse(ran.stdout);
    expect(run).toMatchObject({ phase: "SUCCEEDED", parameters: { who: "ada" } });
    const status = await paved("pipelines", "status", run.id);
    expect(status.stdout).toMatch(/greet\s+job\s+succeeded/);
    const logs = await paved("pipelines", "logs", run.id, "--step", "greet");
    expect(logs.stdout).toContain("hello from ['--who=ada']");
    expect(JSON.parse((await paved("pipelines", "ls", "--json")).stdout).pipelines.map((p: { name: string }) => p.name)).toEqual(["hello"]);
    expect((await paved("pipelines", "runs", "hello")).stdout).toContain(run.id);
    const cancel = await paved("pipelines", "cancel", run.id);
    expect(cancel.stdout).toContain("SUCCEEDED");

    const bad = await paved("pipelines", "run", "hello", "--param", "nobody=1");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("nobody");
    expect((await paved("pipelines", "status", "prun-missing")).code).toBe(3);
    const help = await paved("pipelines", "run", "--help");
    expect(help.stdout).toContain("$ paved pipelines run");
  }, 120_000);
});
