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

  it("lists pipelines and runs a page at a time: --limit, then --page-token from the note", async () => {
    for (const name of ["paged-a", "paged-b"]) {
      const res = await app.server.inject({ method: "POST", url: "/api/v1/pipelines", headers: { authorization: `Bearer ${token}` }, payload: { kind: "Pipeline", metadata: { name }, spec: { steps: [{ name: "say", echo: { x: 1 } }] } } });
      expect(res.statusCode, res.body).toBe(200);
    }
    const names: string[] = [];
    let args = ["pipelines", "ls", "--limit", "2"];
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(5);
      const ls = await paved(...args);
      expect(ls.code, ls.stderr).toBe(0);
      names.push(...[...ls.stdout.matchAll(/^(\S+)\s+risk\s/gm)].map((m) => m[1]!));
      const more = /more pipelines: add --page-token (\S+)/.exec(ls.stderr);
      if (!more) break;
      args = ["pipelines", "ls", "--limit", "2", "--page-token", more[1]!];
    }
    // Each pipeline once, in name order (hello too, when the test above applied it).
    expect(names.filter((n) => n !== "hello")).toEqual(["paged-a", "paged-b"]);
    expect(names).toEqual([...new Set(names)].sort());

    const runs: string[] = [];
    for (let i = 0; i < 3; i++) runs.push(JSON.parse((await paved("pipelines", "run", "paged-a", "--json")).stdout).id);
    const first = JSON.parse((await paved("pipelines", "runs", "paged-a", "--limit", "2", "--json")).stdout);
    expect(first.runs).toHaveLength(2);
    const rest = await paved("pipelines", "runs", "paged-a", "--limit", "2", "--page-token", first.nextPageToken);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stderr).not.toContain("--page-token");
    const listed = [...first.runs.map((r: { id: string }) => r.id), ...runs.filter((id) => rest.stdout.includes(id))];
    expect(new Set(listed)).toEqual(new Set(runs));
    expect((await paved("pipelines", "runs", "paged-a", "--limit", "2")).stderr).toContain("more runs: add --page-token ");
    const bad = await paved("pipelines", "ls", "--page-token", "nonsense");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("nextPageToken");
  }, 60_000);
});
