import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { PlatformError, createLogger, systemClock, type Principal } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { PolicyStore } from "./policies-store.ts";
import { PLATFORM_SCOPE, PolicyService, formatDuration, teamScope, type JobAdmission } from "./policies.ts";

const admin: Principal = { name: "root", kind: "user", platformAdmin: true, teams: {} };
const person = (name: string, teams: Principal["teams"]): Principal => ({ name, kind: "user", platformAdmin: false, teams });
const job = (o: Partial<JobAdmission> = {}): JobAdmission => ({ name: "train", team: "risk", profile: "gpu-1", gpus: 1, gpuType: null, cpus: 4, memoryMiB: 1024, maxRuntimeSeconds: 3600, executorArgs: [], ...o });

/** The refusal a promise ends with. */
async function refusal(p: Promise<unknown>): Promise<PlatformError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlatformError);
  return error as PlatformError;
}

// A gate-policy parser standing in for evaluation's: versions by content.
const parseGatePolicy = (policy: unknown) => {
  if (typeof policy !== "object" || policy === null || !Array.isArray((policy as { checks?: unknown }).checks)) throw new PlatformError("INVALID_INPUT", "invalid gate policy: checks is required");
  return { version: `v-${JSON.stringify(policy).length}`, policy };
};

describe.each(testDialects())("policies (%s)", (dialect) => {
  let database: Database;
  let policies: PolicyService;

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    for (const team of ["risk", "fraud"]) await database.db.insertInto("teams").values({ team_id: team, description: null, created_at: 0 }).execute();
    await database.db.insertInto("users").values({ user_id: "u-ada", name: "ada", kind: "user", display_name: null, email: null, platform_admin: 0, sso_issuer: null, sso_subject: null, created_at: 0, disabled_at: null }).execute();
    policies = new PolicyService({
      store: new PolicyStore(database.db),
      clock: systemClock,
      logger: createLogger("silent"),
      knownProfiles: () => ["cpu", "gpu-1", "gpu-2", "gpu-8"],
      parseGatePolicy,
    });
  });
  afterAll(async () => database?.close());

  it("keeps every version with who set it, the YAML as sent, and answers version 0 before any", async () => {
    expect(await policies.get(PLATFORM_SCOPE)).toMatchObject({ scope: "platform", version: 0, rules: {}, createdBy: null });
    const first = await policies.set(PLATFORM_SCOPE, "maxGpusPerJob: 4\nmaxRuntime: 1d\n", admin);
    expect(first).toMatchObject({ version: 1, rules: { maxGpusPerJob: 4, maxRuntimeSeconds: 86_400 }, createdBy: "root", document: "maxGpusPerJob: 4\nmaxRuntime: 1d\n" });
    const second = await policies.set(PLATFORM_SCOPE, "kind: Policy\nmaxGpusPerJob: 2\nmaxRuntime: 12h\nallowedProfiles: [cpu, gpu-1, gpu-2]\n", admin);
    expect(second.version).toBe(2);
    expect((await policies.history(PLATFORM_SCOPE, 10)).map((v) => v.version)).toEqual([2, 1]);
    expect((await policies.get(PLATFORM_SCOPE)).rules).toEqual({ maxGpusPerJob: 2, maxRuntimeSeconds: 43_200, allowedProfiles: ["cpu", "gpu-1", "gpu-2"] });
    // Two writers at once: each gets its own version, none is lost.
    const [a, b] = await Promise.all([policies.set(teamScope("fraud"), "maxGpusPerJob: 1", admin), policies.set(teamScope("fraud"), "maxGpusPerJob: 0", admin)]);
    expect([a.version, b.version].sort()).toEqual([1, 2]);
    expect((await policies.effective("fraud")).teamPolicy!.version).toBe(2);
  });

  it("refuses a bad document with the field and the fix: unknown rule, bad duration, unknown profile or user", async () => {
    const unknown = await refusal(policies.set(teamScope("risk"), "maxGpus: 2\n", admin));
    expect(unknown.code).toBe("INVALID_INPUT");
    expect(unknown.message).toContain("maxGpusPerJob");
    expect((await refusal(policies.set(teamScope("risk"), "maxRuntime: soon\n", admin))).code).toBe("INVALID_INPUT");
    const profile = await refusal(policies.set(teamScope("risk"), "allowedProfiles: [gpu-99]\n", admin));
    expect(profile.details).toMatchObject({ unknown: ["gpu-99"] });
    const user = await refusal(policies.set(teamScope("risk"), "productionMovers: [maintainer, user:nobody]\n", admin));
    expect(user.details).toMatchObject({ missing: ["nobody"] });
    expect((await refusal(policies.set(teamScope("risk"), "productionMovers: [owner]\n", admin))).code).toBe("INVALID_INPUT");
    expect((await refusal(policies.set(teamScope("risk"), "requiredGatePolicy: {nothing: 1}\n", admin))).code).toBe("INVALID_INPUT");
    expect((await refusal(policies.set(teamScope("risk"), "[not, a, mapping]", admin))).code).toBe("INVALID_INPUT");
    expect((await policies.get(teamScope("risk"))).version).toBe(0);
  });

  it("holds a job to the platform's policy and its team's: a team narrows, never widens", async () => {
    // Platform (v2): maxGpusPerJob 2, maxRuntime 12h, profiles cpu, gpu-1, gpu-2. Risk widens GPUs (no effect) and narrows profiles.
    await policies.set(teamScope("risk"), "maxGpusPerJob: 8\nallowedProfiles: [cpu, gpu-1]\nmaxRuntime: 2h\n", admin);
    expect(await policies.jobViolations(job())).toEqual([]);
    const cases: [Partial<JobAdmission>, string, string][] = [
      [{ profile: "gpu-2", gpus: 2 }, "allowedProfiles", "team:risk"],
      [{ profile: "gpu-8", gpus: 8 }, "allowedProfiles", "platform"],
      [{ profile: null, gpus: 1 }, "allowedProfiles", "platform"],
      [{ profile: "gpu-1", maxRuntimeSeconds: undefined }, "maxRuntime", "platform"],
      [{ profile: "gpu-1", maxRuntimeSeconds: 3 * 3600 }, "maxRuntime", "team:risk"],
    ];
    for (const [change, rule, scope] of cases) {
      const error = await refusal(policies.assertJob(job(change)));
      expect({ change, code: error.code, rule: error.details!.rule, scope: error.details!.scope }).toEqual({ change, code: "FORBIDDEN", rule, scope });
    }
    // Every broken rule is listed, each with where it comes from.
    const all = await refusal(policies.assertJob(job({ profile: "gpu-8", gpus: 8, maxRuntimeSeconds: 86_400 })));
    const violations = all.details!.violations as { rule: string; scope: string; version: number }[];
    expect(violations.map((v) => `${v.scope}/${v.rule}`).sort()).toEqual(["platform/allowedProfiles", "platform/maxGpusPerJob", "platform/maxRuntime", "team:risk/allowedProfiles", "team:risk/maxRuntime"]);
    expect(violations.find((v) => v.scope === "platform")!.version).toBe(2);
    // Fraud (maxGpusPerJob 0) refuses any GPU; another team without a policy only has the platform's.
    expect((await refusal(policies.assertJob(job({ team: "fraud" })))).details).toMatchObject({ rule: "maxGpusPerJob", scope: "team:fraud" });
    expect(await policies.jobViolations(job({ team: "other", profile: "gpu-2", gpus: 2 }))).toEqual([]);
  });

  it("lets only the named roles and users move production, and can forbid forcing the gate", async () => {
    await policies.set(teamScope("fraud"), "productionMovers: [maintainer, user:ada]\nallowGateOverrides: false\n", admin);
    const dev = person("dev", { fraud: "developer" });
    const lead = person("lead", { fraud: "maintainer" });
    const ada = person("ada", { fraud: "viewer" });
    const refused = await refusal(policies.assertProductionMover(dev, "fraud", "score"));
    expect(refused.code).toBe("FORBIDDEN");
    expect(refused.details).toMatchObject({ rule: "productionMovers", scope: "team:fraud" });
    await policies.assertProductionMover(lead, "fraud", "score");
    await policies.assertProductionMover(person("boss", { fraud: "admin" }), "fraud", "score");
    await policies.assertProductionMover(ada, "fraud", "score");
    await policies.assertProductionMover(admin, "fraud", "score");
    // A maintainer of another team is no mover here.
    expect((await refusal(policies.assertProductionMover(person("x", { risk: "maintainer" }), "fraud", "score"))).details!.rule).toBe("productionMovers");
    expect((await refusal(policies.assertGateOverride("fraud", "production of 'score'"))).details).toMatchObject({ rule: "allowGateOverrides", scope: "team:fraud" });
    await policies.assertGateOverride("risk", "production of 'churn'");
  });

  it("names the gate policy a team must use, the platform's first; a team cannot require another", async () => {
    expect(await policies.requiredGatePolicy("risk")).toBeUndefined();
    const gate = { checks: [{ type: "quality", metric: "accuracy", min: 0.9 }] };
    const team = await policies.set(teamScope("risk"), JSON.stringify({ requiredGatePolicy: gate }), admin);
    expect(team.rules.requiredGatePolicy).toEqual(parseGatePolicy(gate));
    expect(await policies.requiredGatePolicy("risk")).toMatchObject({ policy: gate, scope: "team:risk", policyVersion: team.version });
    await policies.set(PLATFORM_SCOPE, JSON.stringify({ requiredGatePolicy: { checks: [] } }), admin);
    expect(await policies.requiredGatePolicy("risk")).toMatchObject({ policy: { checks: [] }, scope: "platform" });
    const conflict = await refusal(policies.set(teamScope("fraud"), JSON.stringify({ requiredGatePolicy: gate }), admin));
    expect(conflict.details).toMatchObject({ rule: "requiredGatePolicy" });
    // An empty document clears every rule (a version of its own).
    const cleared = await policies.set(PLATFORM_SCOPE, "", admin);
    expect(cleared.rules).toEqual({});
    expect(await policies.requiredGatePolicy("fraud")).toBeUndefined();
  });

  it("answers a team the caller may not see, or one that does not exist, as missing", async () => {
    expect(await policies.teamResource("risk")).toMatchObject({ kind: "team", id: "risk", team: "risk" });
    expect((await refusal(policies.teamResource("nope"))).code).toBe("NOT_FOUND");
  });

  it("lets a team forbid profiles with raw executor arguments (the escape hatch), naming them", async () => {
    await database.db.insertInto("teams").values({ team_id: "hpc", description: null, created_at: 0 }).execute();
    const hatch = { team: "hpc", profile: "gpu-1", executorArgs: ["--constraint=a100", "--exclusive"] };
    expect(await policies.jobViolations(job(hatch))).toEqual([]);
    await policies.set(teamScope("hpc"), "allowExecutorArgs: false\n", admin);
    expect((await policies.get(teamScope("hpc"))).rules).toMatchObject({ allowExecutorArgs: false });
    const error = await refusal(policies.assertJob(job(hatch)));
    expect(error.details).toMatchObject({ rule: "allowExecutorArgs", scope: "team:hpc" });
    expect(error.message).toContain("--constraint=a100 --exclusive");
    // A profile without them is still fine.
    expect(await policies.jobViolations(job({ team: "hpc" }))).toEqual([]);
  });

  it("refuses a pod spec patch that reaches the host unless the platform policy allows it, and a team can still forbid it", async () => {
    await database.db.insertInto("teams").values({ team_id: "vision", description: null, created_at: 0 }).execute();
    const hostile = { team: "vision", profile: "gpu-1", executorArgs: ['podSpecPatch={"hostNetwork":true}'], hostAccess: ["hostPath volume 'root' (/)", "privileged container 'job'"] };
    // No rule says yes: refused by default, naming the rule and what reaches the host.
    const byDefault = await refusal(policies.assertJob(job(hostile)));
    expect(byDefault.code).toBe("FORBIDDEN");
    expect(byDefault.details).toMatchObject({ rule: "allowHostAccess", scope: "platform" });
    expect(byDefault.message).toContain("privileged container 'job'");
    // A team cannot widen the platform's policy.
    await policies.set(teamScope("vision"), "allowHostAccess: true\n", admin);
    expect((await refusal(policies.assertJob(job(hostile)))).details).toMatchObject({ rule: "allowHostAccess", scope: "platform" });
    // The platform allows it: admitted; a patch without host access never needed it.
    await policies.set(PLATFORM_SCOPE, "allowHostAccess: true\n", admin);
    expect(await policies.jobViolations(job(hostile))).toEqual([]);
    expect(await policies.jobViolations(job({ team: "vision", executorArgs: ['podSpecPatch={"runtimeClassName":"nvidia"}'], hostAccess: [] }))).toEqual([]);
    // A team's false narrows the platform's true.
    await policies.set(teamScope("vision"), "allowHostAccess: false\n", admin);
    expect((await refusal(policies.assertJob(job(hostile)))).details).toMatchObject({ rule: "allowHostAccess", scope: "team:vision" });
    // allowExecutorArgs: false refuses any pod spec patch, host access or not.
    await policies.set(teamScope("vision"), "allowExecutorArgs: false\n", admin);
    const patched = await refusal(policies.assertJob(job({ team: "vision", executorArgs: ['podSpecPatch={"runtimeClassName":"nvidia"}'] })));
    expect(patched.details).toMatchObject({ rule: "allowExecutorArgs" });
  });

  it("writes durations as people do", () => {
    expect([formatDuration(43_200), formatDuration(5400), formatDuration(90), formatDuration(172_800)]).toEqual(["12h", "1h30m", "1m30s", "2d"]);
  });
});
