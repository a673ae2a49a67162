import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ACTIONS, notFound, type Action, type Principal, type ResourceRef } from "../../core/index.ts";
import { ACTION_RULES, authorize, mayAttempt, visibleTeams } from "./policy.ts";

const platformAdmin: Principal = { name: "root", kind: "user", platformAdmin: true, teams: {} };
const ada: Principal = { name: "ada", kind: "user", userId: "usr_ada", platformAdmin: false, teams: { risk: "developer", fraud: "viewer" } };
const job: Principal = { name: "job:job-1", kind: "job", platformAdmin: false, teams: {}, team: "risk", jobId: "job-1", experimentId: "7", onBehalfOf: "ada" };
const anonymous: Principal = { name: "anonymous", kind: "anonymous", platformAdmin: false, teams: {} };

const codeOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
};
const run = (team: string, jobId: string | null = null): ResourceRef => ({ kind: "run", id: "r1", team, jobId, experimentId: "7", notFound: () => notFound("run 'r1' does not exist") });

describe("the authorization policy", () => {
  it("lets a platform admin do everything, in every team", () => {
    for (const action of ACTIONS) expect(codeOf(() => authorize(platformAdmin, action, run("anywhere")))).toBeUndefined();
  });

  it("gives each team role what the table says, in that team only", () => {
    expect(codeOf(() => authorize(ada, "runs:write", run("risk")))).toBeUndefined();
    expect(codeOf(() => authorize(ada, "models:delete", { kind: "model", id: "m", team: "risk" }))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(ada, "runs:read", run("fraud")))).toBeUndefined();
    expect(codeOf(() => authorize(ada, "runs:write", run("fraud")))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(ada, "gate-policies:write", { kind: "model", id: "m", team: "risk" }))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(ada, "serving:admin"))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(ada, "teams:create"))).toBe("FORBIDDEN");
  });

  it("answers a resource of another team exactly as a missing one", () => {
    let error: unknown;
    try {
      authorize(ada, "runs:read", run("payments"));
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "NOT_FOUND", message: "run 'r1' does not exist" });
  });

  it("lets a job write only to runs of its own job, start runs only in its experiment, and read only its team", () => {
    expect(codeOf(() => authorize(job, "runs:write", run("risk", "job-1")))).toBeUndefined();
    expect(codeOf(() => authorize(job, "runs:write", run("risk", "job-2")))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(job, "runs:write", run("risk", null)))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(job, "runs:read", run("risk")))).toBeUndefined();
    expect(codeOf(() => authorize(job, "runs:read", run("fraud")))).toBe("NOT_FOUND");
    expect(codeOf(() => authorize(job, "runs:create", { kind: "run", id: "(new)", team: "risk", experimentId: "7" }))).toBeUndefined();
    expect(codeOf(() => authorize(job, "runs:create", { kind: "run", id: "(new)", team: "risk", experimentId: "0" }))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(job, "jobs:read", { kind: "job", id: "job-1", team: "risk", jobId: "job-1" }))).toBeUndefined();
    expect(codeOf(() => authorize(job, "jobs:read", { kind: "job", id: "job-2", team: "risk", jobId: "job-2" }))).toBe("FORBIDDEN");
    expect(codeOf(() => authorize(job, "runs:write"))).toBe("FORBIDDEN");
    for (const action of ["deployments:write", "gate-policies:write", "tokens:write", "jobs:create", "models:write"] as const) {
      expect(codeOf(() => authorize(job, action))).toBe("FORBIDDEN");
    }
  });

  it("lets a token's owner (and only them) manage it", () => {
    expect(codeOf(() => authorize(ada, "tokens:write", { kind: "token", id: "t1", userId: "usr_ada" }))).toBeUndefined();
    expect(codeOf(() => authorize(ada, "tokens:write", { kind: "token", id: "t2", userId: "usr_bob" }))).toBe("NOT_FOUND");
  });

  it("lets anonymous callers reach only what is public", () => {
    expect(codeOf(() => authorize(anonymous, "platform:read"))).toBeUndefined();
    expect(codeOf(() => authorize(anonymous, "runs:read"))).toBe("UNAUTHENTICATED");
    expect(mayAttempt(anonymous, "runs:read")).toBe(false);
  });

  it("filters lists to the teams where the role allows the read", () => {
    expect(visibleTeams(platformAdmin, "runs:read")).toBeUndefined();
    expect(visibleTeams(ada, "runs:read")!.sort()).toEqual(["fraud", "risk"]);
    expect(visibleTeams(ada, "runs:write")).toEqual(["risk"]);
    expect(visibleTeams(job, "runs:read")).toEqual(["risk"]);
    expect(visibleTeams(job, "deployments:read")).toEqual([]);
  });

  it("is the table docs/teams.md prints", () => {
    const doc = readFileSync(new URL("../../../docs/teams.md", import.meta.url), "utf8");
    for (const action of ACTIONS) {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${action}\` `));
      expect(row, `docs/teams.md has no row for ${action}`).toBeDefined();
      const rule = ACTION_RULES[action as Action];
      expect(row, action).toContain(`| ${rule} |`);
    }
  });
});
