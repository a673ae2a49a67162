// Every route × {no token, viewer, developer, member of another team, a job's token}, against the
// policy's table (issue 8, "Bad input and attacks"). Each request names things that do not exist,
// so what is checked here is the decision alone: 401 without a token, 403 where the role is too
// weak, and anything else (a 400, a 404 for the missing thing, a 200) where the policy lets the
// request through. That another team's resource answers exactly as a missing one is checked with
// real resources, route by route, in the modules' teams tests (tracking, registry, compute,
// evaluation, deployments, serving).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { TEAM_ROLES, type Action, type RouteDefinition, type TeamRole } from "../src/core/index.ts";
import { ACTION_RULES } from "../src/modules/identity/index.ts";

type Caller = "anonymous" | "viewer" | "developer" | "otherTeam" | "job";

/** What a job's token may attempt (the rest is refused before anything is looked up). */
const JOB_MAY: ReadonlySet<Action> = new Set<Action>(["platform:read", "catalog:read", "experiments:read", "runs:read", "models:read", "serving:read", "serving:infer", "runs:write", "runs:create", "jobs:read"]);

/** What the policy must answer a caller for a route: 401, 403, or let it through. */
function expected(caller: Caller, def: RouteDefinition): "401" | "403" | "through" {
  // GET /auth/session says whether a browser's cookie opens a session: 401 without one, whatever
  // bearer token comes along. Public routes take no token (POST /auth/session reads one from its body).
  if (def.url === "/auth/session" && def.method === "GET") return "401";
  if (def.public) return "through";
  if (caller === "anonymous") return "401";
  const rule = ACTION_RULES[def.action];
  if (caller === "job") return JOB_MAY.has(def.action) ? "through" : "403";
  if (rule === "anyone" || rule === "self") return "through";
  if (rule === "platform") return "403";
  // A member of another team holds developer there: the role is judged before the team is known.
  const held: TeamRole = caller === "viewer" ? "viewer" : "developer";
  return TEAM_ROLES.indexOf(held) >= TEAM_ROLES.indexOf(rule) ? "through" : "403";
}

describe("every route × every kind of caller", () => {
  let app: App;
  const tokens = {} as Record<Exclude<Caller, "anonymous">, string>;

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-route-matrix-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 } } }));
    const admin = { authorization: `Bearer ${app.generatedAdminToken}` };
    const call = async (url: string, payload: unknown) => {
      const res = await app.server.inject({ method: "POST", url, headers: admin, payload: payload as object });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    await call("/api/v1/teams", { name: "alpha" });
    await call("/api/v1/teams", { name: "beta" });
    const person = async (name: string, team: string, role: TeamRole) => {
      await call("/api/v1/users", { name, teams: [{ team, role }] });
      return (await call(`/api/v1/users/${name}/tokens`, { name: "matrix" })).token as string;
    };
    tokens.viewer = await person("vera", "alpha", "viewer");
    tokens.developer = await person("dev", "alpha", "developer");
    tokens.otherTeam = await person("otto", "beta", "developer");
    const job = await app.server.inject({
      method: "POST",
      url: "/api/v1/jobs",
      headers: { authorization: `Bearer ${tokens.developer}` },
      payload: { name: "matrix", command: ["/bin/true"], workingDir: tmpdir(), compute: { cpus: 1, memory: 64 } },
    });
    expect(job.statusCode, job.body).toBe(200);
    tokens.job = await app.tokens.mintForJob(job.json().id, 60_000);
  });
  afterAll(async () => app.close());

  it("answers each route as the policy's table says, for every caller", async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const def of app.routes) {
      const url = def.url.replace(/:(\w+)/g, "missing-$1").replace("*", "0/missing/artifacts/x");
      for (const caller of ["anonymous", "viewer", "developer", "otherTeam", "job"] as const) {
        const headers: Record<string, string> = caller === "anonymous" ? {} : { authorization: `Bearer ${tokens[caller]}` };
        const hasBody = def.method !== "GET" && def.method !== "DELETE";
        const res = await app.server.inject({
          method: def.method,
          url,
          headers: { ...headers, ...(hasBody ? { "content-type": def.rawBody ? "application/octet-stream" : "application/json" } : {}) },
          ...(hasBody ? { payload: def.rawBody ? Buffer.from("x") : "{}" } : {}),
        });
        const got = res.statusCode === 401 ? "401" : res.statusCode === 403 ? "403" : "through";
        const want = expected(caller, def);
        checked++;
        if (got !== want) wrong.push(`${def.method} ${def.url} as ${caller}: ${res.statusCode} (${def.action}), expected ${want}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThan(500);
  });
});
