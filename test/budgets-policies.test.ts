// Costs, budgets and policies on a real server (issue 8, items 5 and 6): every policy rule refused
// at the edge with the rule in details, `paved policy check` answering as submit does, a budget at
// 100% blocking new jobs and deployments with the budget named, a stop threshold cancelling a real
// process (which sees SIGTERM), a webhook receiver getting each notification once, and a
// deployment's serving metered into its cost and its cost per 1,000 predictions.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { exportLinearOnnx } from "./support/onnx.ts";
import { createMembers, type AuthHeaders } from "./support/teams.ts";
import { runPaved } from "./support/cli.ts";

type Method = "GET" | "POST" | "PUT" | "DELETE";

/** Polls `read` until `done` holds (or gives up with what it last read). */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < 1200; i++) {
    last = await read();
    if (done(last)) return last;
    await sleep(50);
  }
  throw new Error(`${what} never happened; last seen: ${JSON.stringify(last)}`);
}

describe.each(testDialects())("costs, budgets and policies on a server (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: AuthHeaders;
  let people: Record<"lead" | "dev" | "fred" | "mia" | "fay", AuthHeaders>;
  const dir = mkdtempSync(join(tmpdir(), "paved-budgets-e2e-"));
  const hook = { got: [] as { headers: IncomingHttpHeaders; body: { id: string; team: string; threshold: { at: number; action: string } } }[], url: "" };
  const receiver = createServer((req, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => (text += chunk.toString()));
    req.on("end", () => {
      hook.got.push({ headers: req.headers, body: JSON.parse(text) });
      res.end();
    });
  });

  const call = (who: AuthHeaders, method: Method, path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: who, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (res: Promise<LightMyRequestResponse>) => {
    const done = await res;
    expect(done.statusCode, done.body).toBe(200);
    return done.json();
  };
  const job = (spec: Record<string, unknown>) => ({ name: "train", workingDir: dir, command: ["true"], compute: { profile: "cpu" }, maxRuntime: "30m", ...spec });

  const paved = (args: string[], who: AuthHeaders) => runPaved(args, { url, token: who.authorization.slice("Bearer ".length), dir });

  /** A registered model with one version from a run of `who`'s team (an ONNX model when `onnx` is given). */
  async function register(who: AuthHeaders, name: string, onnx?: Buffer): Promise<void> {
    const exp = (await ok(call(who, "POST", "/api/2.0/mlflow/experiments/create", { name: `${name}-exp` }))).experiment_id;
    const run = (await ok(call(who, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: exp, start_time: 1 }))).run.info.run_id;
    const file = onnx ? "model.onnx" : "model.bin";
    const put = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/${exp}/${run}/artifacts/model/${file}`,
      headers: { ...who, "content-type": "application/octet-stream" },
      payload: onnx ?? Buffer.from("weights"),
    });
    expect(put.statusCode, put.body).toBe(200);
    await ok(call(who, "POST", `/api/v1/models/${name}/versions`, { source: `runs:/${run}/model` }));
  }

  beforeAll(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    hook.url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/budget-hook`;
    // Prices that make seconds count: a CPU costs 36 an hour (0.01 a second), so does a serving replica.
    const profilesFile = join(dir, "profiles.yaml");
    writeFileSync(
      profilesFile,
      ["prices: { currency: USD, cpuHour: 36, gpuHour: 100, replicaHour: 36, storageGBMonth: 0 }", "profiles:", "  cpu: { cpus: 0.5, memory: 64Mi }", "  gpu-2: { gpus: 2, cpus: 0.5, memory: 64Mi }"].join("\n"),
    );
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir: join(dir, "data"),
          logLevel: "silent",
          host: "127.0.0.1",
          port: 0,
          ...(databaseUrl ? { databaseUrl } : {}),
          compute: { gpus: [{ index: 0 }, { index: 1 }], cpus: 4, memoryMiB: 4096, python: "/nonexistent/python3", profilesFile },
          guardrails: { budgets: { intervalSeconds: 0.1, webhookRetrySeconds: 0.2 } },
        },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    people = await createMembers(app, admin, ["risk", "fraud"], {
      lead: [{ team: "risk", role: "admin" }],
      dev: [{ team: "risk", role: "developer" }],
      fred: [{ team: "fraud", role: "developer" }],
      mia: [{ team: "fraud", role: "maintainer" }],
      fay: [{ team: "fraud", role: "admin" }],
    });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it("refuses each job rule at the edge with the rule in details, and policy check answers exactly as submit", async () => {
    // The platform's policy (platform admins only) and risk's own (its admin), each versioned.
    expect((await call(people.lead, "PUT", "/api/v1/policies/platform", { yaml: "maxGpusPerJob: 1\n" })).statusCode).toBe(403);
    expect((await ok(call(admin, "PUT", "/api/v1/policies/platform", { yaml: "maxGpusPerJob: 1\nmaxRuntime: 1h\n" }))).version).toBe(1);
    expect((await call(people.dev, "PUT", "/api/v1/policies/teams/risk", { yaml: "allowedProfiles: [cpu]\n" })).statusCode).toBe(403);
    // Another team's admin: as if risk did not exist.
    const hidden = await call(people.fay, "PUT", "/api/v1/policies/teams/risk", { yaml: "allowedProfiles: [cpu]\n" });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.body).toBe((await call(people.fay, "PUT", "/api/v1/policies/teams/no-such-team", { yaml: "" })).body.replace("no-such-team", "risk"));
    expect((await ok(call(people.lead, "PUT", "/api/v1/policies/teams/risk", { yaml: "kind: Policy\nallowedProfiles: [cpu]\n" }))).version).toBe(1);
    const shown = await ok(call(people.dev, "GET", "/api/v1/policies?team=risk"));
    expect(shown.platform.rules).toEqual({ maxGpusPerJob: 1, maxRuntimeSeconds: 3600 });
    expect(shown.teamPolicy.rules).toEqual({ allowedProfiles: ["cpu"] });
    expect((await call(people.fred, "GET", "/api/v1/policies?team=risk")).statusCode).toBe(404);

    const cases: [string, AuthHeaders, Record<string, unknown>, string, string][] = [
      ["raw resources where only profiles are allowed", people.dev, { compute: { cpus: 0.5, memory: 64 } }, "allowedProfiles", "team:risk"],
      ["a profile the team does not allow", people.dev, { compute: { profile: "gpu-2" } }, "maxGpusPerJob", "platform"],
      ["no maxRuntime", people.dev, { maxRuntime: undefined }, "maxRuntime", "platform"],
      ["a maxRuntime above the platform's", people.dev, { maxRuntime: "2h" }, "maxRuntime", "platform"],
      ["too many GPUs (fraud has no policy of its own)", people.fred, { compute: { profile: "gpu-2" } }, "maxGpusPerJob", "platform"],
    ];
    const before = (await ok(call(admin, "GET", "/api/v1/jobs"))).jobs.length;
    for (const [what, who, change, rule, scope] of cases) {
      const submitted = await call(who, "POST", "/api/v1/jobs", job(change));
      expect({ what, status: submitted.statusCode, code: submitted.json().error.code, rule: submitted.json().error.details.rule, scope: submitted.json().error.details.scope }).toEqual({
        what,
        status: 403,
        code: "FORBIDDEN",
        rule,
        scope,
      });
      const checked = await call(who, "POST", "/api/v1/policy/check", job(change));
      expect({ what, status: checked.statusCode, body: checked.json() }).toEqual({ what, status: 403, body: submitted.json() });
    }
    // gpu-2 breaks both: the platform's GPU limit and risk's profiles, each listed.
    const both = (await call(people.dev, "POST", "/api/v1/jobs", job({ compute: { profile: "gpu-2" } }))).json().error.details.violations;
    expect(both.map((v: { scope: string; rule: string }) => `${v.scope}/${v.rule}`)).toEqual(["platform/maxGpusPerJob", "team:risk/allowedProfiles"]);
    expect((await ok(call(admin, "GET", "/api/v1/jobs"))).jobs).toHaveLength(before);

    const allowed = await ok(call(people.dev, "POST", "/api/v1/policy/check", job({})));
    expect(allowed).toMatchObject({ allowed: true, team: "risk", request: { profile: "cpu", gpus: 0, cpus: 0.5 }, hourlyCost: 18, currency: "USD" });
    expect((await ok(call(admin, "GET", "/api/v1/jobs"))).jobs).toHaveLength(before);
    expect((await ok(call(people.dev, "POST", "/api/v1/jobs", job({})))).team).toBe("risk");

    // The CLI: check before apply (exit 0), and a refusal's exit code (6, forbidden) with the rule.
    writeFileSync(join(dir, "job.yaml"), "kind: Job\nname: check-me\ncommand: [\"true\"]\ncompute: { profile: cpu }\nmaxRuntime: 30m\n");
    writeFileSync(join(dir, "long.yaml"), "kind: Job\nname: long\ncommand: [\"true\"]\ncompute: { profile: cpu }\nmaxRuntime: 3h\n");
    const good = await paved(["policy", "check", "job.yaml"], people.dev);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stdout).toContain("job 'check-me' would be admitted in team risk");
    const bad = await paved(["policy", "check", "long.yaml"], people.dev);
    expect(bad.code).toBe(6);
    expect(bad.stderr).toContain("rule maxRuntime");
    const show = await paved(["policy", "show", "--team", "risk"], people.dev);
    expect(show.stdout).toMatch(/the platform policy: version 1/);
    expect(show.stdout).toMatch(/allowedProfiles:\s+cpu/);
  });

  it("blocks new work at 100% with the budget named, stops running work (SIGTERM first) at its stop threshold, and notifies each crossing once", async () => {
    // A team admin may not send notifications to a host the server does not allow; a platform admin may.
    const outside = await call(people.lead, "PUT", "/api/v1/budgets/risk", { amount: 0.01, webhookUrl: hook.url });
    expect(outside.statusCode).toBe(403);
    expect(outside.json().error.details.rule).toBe("webhookHosts");
    const thresholds = [
      { at: 50, action: "notify" },
      { at: 100, action: "block" },
      { at: 200, action: "stop" },
    ];
    const budget = await ok(call(admin, "PUT", "/api/v1/budgets/risk", { amount: 0.01, thresholds, webhookUrl: hook.url }));
    expect(budget).toMatchObject({ team: "risk", amount: 0.01, webhookHost: new URL(hook.url).host, blocked: false });
    expect(JSON.stringify(await ok(call(people.dev, "GET", "/api/v1/budgets/risk")))).not.toContain("budget-hook");
    expect((await call(people.fred, "GET", "/api/v1/budgets/risk")).statusCode).toBe(404);

    // A real process that writes a file when it gets SIGTERM: 0.5 CPU at 36 an hour spends 0.005 a second.
    const sigterm = join(dir, "got-sigterm");
    const running = await ok(
      call(people.dev, "POST", "/api/v1/jobs", job({ name: "spender", command: ["sh", "-c", `trap 'echo term > ${sigterm}; exit 0' TERM; while true; do sleep 0.1; done`] })),
    );
    await until("the budget blocking", () => ok(call(people.dev, "GET", "/api/v1/budgets/risk")), (b) => b.blocked);
    const refused = await call(people.dev, "POST", "/api/v1/jobs", job({ name: "one-more" }));
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error).toMatchObject({ code: "QUOTA_EXCEEDED", details: { budget: "risk", amount: 0.01, threshold: { action: "block" } } });
    const checked = await call(people.dev, "POST", "/api/v1/policy/check", job({ name: "one-more" }));
    expect(checked.statusCode).toBe(429);
    expect(checked.json().error.details.budget).toBe("risk");
    // Another team's work goes on.
    expect((await call(people.fred, "POST", "/api/v1/jobs", job({ name: "fraud-job" }))).statusCode).toBe(200);

    const stopped = await until("the job being cancelled", () => ok(call(people.dev, "GET", `/api/v1/jobs/${running.id}`)), (j) => j.phase === "CANCELLED");
    expect(existsSync(sigterm)).toBe(true);
    expect(readFileSync(sigterm, "utf8").trim()).toBe("term");
    expect(stopped.events.some((e: { type: string; message: string }) => e.type === "BudgetStop" && e.message.includes("200%"))).toBe(true);

    const after = await until(
      "every notification delivered",
      () => ok(call(people.dev, "GET", "/api/v1/budgets/risk")),
      (b) => b.events.length === 3 && b.events.every((e: { delivery: string }) => e.delivery === "delivered"),
    );
    expect(after.events.map((e: { at: number; action: string }) => [e.at, e.action])).toEqual([
      [50, "notify"],
      [100, "block"],
      [200, "stop"],
    ]);
    expect(after.events[2].actedAt).not.toBeNull();
    // More passes change nothing: each crossing was sent once.
    await sleep(500);
    const risk = hook.got.filter((g) => g.body.team === "risk");
    expect(risk.map((g) => g.body.threshold.at).sort((a, b) => a - b)).toEqual([50, 100, 200]);
    expect(new Set(risk.map((g) => g.headers["x-paved-event-id"])).size).toBe(3);

    // Budgets in the CLI; removing the budget lets work in again.
    const listed = await paved(["budgets", "ls"], people.dev);
    expect(listed.stdout).toMatch(/risk\s+\d{4}-\d{2}\s+.*BLOCKED\s+50%:notify 100%:block 200%:stop/);
    const costs = await paved(["costs", "--team", "risk", "--by", "job"], people.dev);
    expect(costs.code, costs.stderr).toBe(0);
    expect(costs.stdout).toContain(running.id);
    expect((await paved(["budgets", "rm", "risk"], people.dev)).code).toBe(6);
    expect((await paved(["budgets", "rm", "risk"], people.lead)).code).toBe(0);
    expect((await call(people.dev, "POST", "/api/v1/jobs", job({ name: "after-budget" }))).statusCode).toBe(200);
  });

  it("lets only the policy's movers move production, refuses forcing the gate when overrides are off, and makes a team's models use the required gate policy", async () => {
    await register(people.fred, "fraud-model");
    await ok(call(admin, "PUT", "/api/v1/policies/teams/fraud", { yaml: "productionMovers: [maintainer]\nallowGateOverrides: false\n" }));
    const byDeveloper = await call(people.fred, "PUT", "/api/v1/models/fraud-model/aliases/production", { version: "1" });
    expect(byDeveloper.statusCode).toBe(403);
    expect(byDeveloper.json().error.details).toMatchObject({ rule: "productionMovers", scope: "team:fraud" });
    const viaMlflow = await call(people.fred, "POST", "/api/2.0/mlflow/registered-models/alias", { name: "fraud-model", alias: "production", version: "1" });
    expect(viaMlflow.statusCode).toBe(403);
    // Other aliases are no business of the policy.
    expect((await call(people.fred, "PUT", "/api/v1/models/fraud-model/aliases/staging", { version: "1" })).statusCode).toBe(200);
    // A maintainer passes the policy and meets the gate.
    expect((await call(people.mia, "PUT", "/api/v1/models/fraud-model/aliases/production", { version: "1" })).json().error.code).toBe("GATE_FAILED");
    // Overrides are off: even a platform admin's forced move is refused, and no override is recorded.
    const forced = await call(admin, "PUT", "/api/v1/models/fraud-model/aliases/production", { version: "1", force: true, reason: "hotfix" });
    expect(forced.statusCode).toBe(403);
    expect(forced.json().error.details).toMatchObject({ rule: "allowGateOverrides", scope: "team:fraud" });
    expect((await ok(call(admin, "GET", "/api/v1/models/fraud-model/gate-overrides"))).overrides).toEqual([]);
    // The next version of the policy allows overrides again.
    const v2 = await ok(call(admin, "PUT", "/api/v1/policies/teams/fraud", { yaml: "productionMovers: [maintainer]\n" }));
    expect(v2.version).toBe(2);
    expect((await call(admin, "PUT", "/api/v1/models/fraud-model/aliases/production", { version: "1", force: true, reason: "hotfix" })).statusCode).toBe(200);
    expect((await ok(call(admin, "GET", "/api/v1/policies/teams/fraud/history"))).versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);

    // The platform requires a gate policy: the gate shows and uses it, and a model may store no other.
    const required = "checks:\n  - {type: performance, p99Ms: 5000}\n";
    await ok(call(admin, "PUT", "/api/v1/policies/platform", { yaml: `maxGpusPerJob: 1\nmaxRuntime: 1h\nrequiredGatePolicy:\n  checks:\n    - {type: performance, p99Ms: 5000}\n` }));
    const gate = await ok(call(people.fred, "GET", "/api/v1/models/fraud-model/gate-policy"));
    expect(gate).toMatchObject({ source: "required", policy: { checks: [{ type: "performance", p99Ms: 5000 }] } });
    const other = await call(people.mia, "PUT", "/api/v1/models/fraud-model/gate-policy", { yaml: "checks:\n  - {type: performance, p99Ms: 100}\n" });
    expect(other.statusCode).toBe(403);
    expect(other.json().error.details).toMatchObject({ rule: "requiredGatePolicy", scope: "platform", required: gate.version });
    expect((await ok(call(people.mia, "PUT", "/api/v1/models/fraud-model/gate-policy", { yaml: required }))).version).toBe(gate.version);
    expect((await ok(call(people.fred, "GET", "/api/v1/models/fraud-model/gate-status"))).policyVersion).toBe(gate.version);
    await ok(call(admin, "PUT", "/api/v1/policies/platform", { yaml: "maxGpusPerJob: 1\nmaxRuntime: 1h\n" }));
  });

  it("admits deployments by the policy and the budget, and prices a deployment's serving per 1,000 predictions", async () => {
    await register(people.fred, "scorer", exportLinearOnnx());
    const production = await call(people.fred, "POST", "/api/v1/deployments", { model: "scorer", version: "1", environment: "production" });
    expect(production.statusCode).toBe(403);
    expect(production.json().error.details.rule).toBe("productionMovers");
    const deployment = await ok(call(people.fred, "POST", "/api/v1/deployments", { model: "scorer", version: "1", environment: "staging", strategy: "replace" }));
    await until("the deployment", () => ok(call(people.fred, "GET", `/api/v1/deployments/${deployment.id}`)), (d) => d.status.phase === "Succeeded");
    const request = { inputs: [{ name: "features", shape: [1, 4], datatype: "FP32", data: [0.1, 0.2, 0.3, 0.4] }] };
    for (let i = 0; i < 10; i++) expect((await call(people.fred, "POST", "/environments/staging/v2/models/scorer/infer", request)).statusCode).toBe(200);
    const report = await until(
      "the meter counting the requests",
      () => ok(call(people.fred, "GET", "/api/v1/costs?team=fraud&by=deployment")),
      (r) => r.items.some((i: { requests: number }) => i.requests >= 10),
    );
    const item = report.items.find((i: { id: string }) => i.id === deployment.id);
    expect(item).toMatchObject({ kind: "deployment", name: "scorer/staging", team: "fraud", user: "fred" });
    expect(item.replicaHours).toBeGreaterThan(0);
    expect(item.cost).toBeGreaterThan(0);
    expect(item.costPer1000Predictions).toBeCloseTo((item.cost / item.requests) * 1000, 4);
    expect(report.teams[0]).toMatchObject({ team: "fraud" });
    expect(report.teams[0].deployments).toBeGreaterThan(0);
    // Team risk sees none of fraud's costs.
    expect((await call(people.dev, "GET", "/api/v1/costs?team=fraud")).statusCode).toBe(404);
    expect((await ok(call(people.dev, "GET", "/api/v1/costs"))).teams.map((t: { team: string }) => t.team)).toEqual(["risk"]);
    const cli = await paved(["costs", "--by", "deployment"], people.fred);
    expect(cli.stdout).toContain(deployment.id);
    expect(cli.stdout).toContain("PER 1K PREDICTIONS");

    // A spent budget refuses new deployments and jobs of the team, naming the budget.
    await ok(call(admin, "PUT", "/api/v1/budgets/fraud", { amount: 0.000001, thresholds: [{ at: 100, action: "block" }] }));
    const blocked = await call(people.fred, "POST", "/api/v1/deployments", { model: "scorer", version: "1", environment: "qa", strategy: "replace" });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error.details).toMatchObject({ budget: "fraud", threshold: { at: 100, action: "block" } });
    const check = await paved(["policy", "check", "job.yaml", "--team", "fraud"], people.fred);
    expect(check.code).toBe(7);
    expect(check.stderr).toContain("budget");
  });
});
