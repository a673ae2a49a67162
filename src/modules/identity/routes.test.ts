import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";

// People, service accounts, teams and personal tokens over the real API (issue 8, items 1 and 3).
describe("identity API", () => {
  let app: App;
  let root: Record<string, string>;
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const call = (method: "GET" | "POST" | "PUT" | "DELETE", url: string, headers: Record<string, string>, payload?: unknown) =>
    app.server.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) });
  /** A user made by the platform admin, with a first token made for them. */
  async function person(name: string, teams: { team: string; role: string }[]): Promise<string> {
    expect((await call("POST", "/api/v1/users", root, { name, teams })).statusCode).toBe(200);
    const created = await call("POST", `/api/v1/users/${name}/tokens`, root, { name: "first", expiresInDays: 1 });
    expect(created.statusCode, created.body).toBe(200);
    return created.json().token;
  }

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-identity-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 } } }));
    root = as(app.generatedAdminToken!);
    for (const team of ["risk", "fraud"]) expect((await call("POST", "/api/v1/teams", root, { name: team })).statusCode).toBe(200);
  });
  afterAll(async () => app.close());

  it("starts with the admin user, a platform admin and admin of team default", async () => {
    expect((await call("GET", "/api/v1/whoami", root)).json()).toMatchObject({ name: "admin", kind: "user", platformAdmin: true, teams: [{ team: "default", role: "admin" }] });
  });

  it("lets a user see their teams and roles, make, list and revoke their own tokens, and nobody else's", async () => {
    const ada = await person("ada", [
      { team: "risk", role: "developer" },
      { team: "fraud", role: "viewer" },
    ]);
    const me = (await call("GET", "/api/v1/whoami", as(ada))).json();
    expect(me).toMatchObject({ name: "ada", kind: "user", platformAdmin: false });
    expect(me.teams).toEqual([
      { team: "fraud", role: "viewer" },
      { team: "risk", role: "developer" },
    ]);
    const laptop = (await call("POST", "/api/v1/tokens", as(ada), { name: "laptop", expiresInDays: 30, team: "risk" })).json();
    expect(laptop.token).toMatch(/^pvd_/);
    expect(laptop).toMatchObject({ name: "laptop", user: "ada", team: "risk" });
    expect((await call("GET", "/api/v1/whoami", as(laptop.token))).json().team).toBe("risk");
    const listed = (await call("GET", "/api/v1/tokens", as(ada))).json().tokens;
    expect(listed.map((t: { name: string }) => t.name).sort()).toEqual(["first", "laptop"]);
    expect(JSON.stringify(listed)).not.toContain(laptop.token);
    // A team the user is not in cannot be a token's team.
    expect((await call("POST", "/api/v1/tokens", as(ada), { name: "x", team: "payments" })).statusCode).toBe(404);
    // Someone else's token answers as a missing one.
    const bob = await person("bob", [{ team: "risk", role: "viewer" }]);
    const bobsTokens = (await call("GET", "/api/v1/tokens", as(bob))).json().tokens;
    expect((await call("DELETE", `/api/v1/tokens/${bobsTokens[0].id}`, as(ada))).statusCode).toBe(404);
    expect((await call("GET", "/api/v1/whoami", as(bob))).statusCode).toBe(200);
    // Revoked: it stops working at once.
    expect((await call("DELETE", `/api/v1/tokens/${laptop.id}`, as(ada))).statusCode).toBe(200);
    expect((await call("GET", "/api/v1/whoami", as(laptop.token))).statusCode).toBe(401);
  });

  it("keeps platform actions from everyone but platform admins", async () => {
    const dev = await person("dev1", [{ team: "risk", role: "admin" }]);
    expect((await call("POST", "/api/v1/teams", as(dev), { name: "mine" })).statusCode).toBe(403);
    expect((await call("GET", "/api/v1/users", as(dev))).statusCode).toBe(403);
    expect((await call("POST", "/api/v1/users", as(dev), { name: "sneaky", platformAdmin: true })).statusCode).toBe(403);
    expect((await call("GET", "/api/v1/tokens?all=true", as(dev))).statusCode).toBe(403);
  });

  it("lets a team admin manage members, and a removal applies to the next request", async () => {
    const lead = await person("lead", [{ team: "fraud", role: "admin" }]);
    const carol = await person("carol", [{ team: "risk", role: "developer" }]);
    expect((await call("GET", "/api/v1/teams/fraud", as(carol))).statusCode).toBe(404);
    const added = await call("PUT", "/api/v1/teams/fraud/members/carol", as(lead), { role: "viewer" });
    expect(added.statusCode, added.body).toBe(200);
    expect((await call("GET", "/api/v1/teams/fraud", as(carol))).json().members).toContainEqual({ user: "carol", kind: "user", role: "viewer" });
    // A viewer may not manage members; a team admin of another team may not either.
    expect((await call("PUT", "/api/v1/teams/fraud/members/carol", as(carol), { role: "admin" })).statusCode).toBe(403);
    expect((await call("PUT", "/api/v1/teams/risk/members/lead", as(lead), { role: "admin" })).statusCode).toBe(404);
    expect((await call("DELETE", "/api/v1/teams/fraud/members/carol", as(lead))).statusCode).toBe(200);
    expect((await call("GET", "/api/v1/teams/fraud", as(carol))).statusCode).toBe(404);
    expect((await call("GET", "/api/v1/teams", as(carol))).json().teams.map((t: { name: string }) => t.name)).toEqual(["risk"]);
    expect((await call("PUT", "/api/v1/teams/fraud/members/carol", as(lead), { role: "owner" })).json().error.code).toBe("INVALID_INPUT");
  });

  it("gives a team's service account tokens from its team admin, and stops them when it is disabled", async () => {
    const lead = await person("lead2", [{ team: "risk", role: "admin" }]);
    const account = await call("POST", "/api/v1/teams/risk/service-accounts", as(lead), { name: "ci-deployer", role: "developer" });
    expect(account.statusCode, account.body).toBe(200);
    expect(account.json()).toMatchObject({ kind: "service", teams: [{ team: "risk", role: "developer" }] });
    const token = (await call("POST", "/api/v1/teams/risk/service-accounts/ci-deployer/tokens", as(lead), { name: "github" })).json();
    expect((await call("GET", "/api/v1/whoami", as(token.token))).json()).toMatchObject({ name: "ci-deployer", kind: "service", team: "risk" });
    // Only the team's own service accounts, only by its admins.
    expect((await call("POST", "/api/v1/teams/risk/service-accounts/ada/tokens", as(lead), { name: "x" })).statusCode).toBe(404);
    expect((await call("POST", "/api/v1/teams/fraud/service-accounts/ci-deployer/tokens", as(lead), { name: "x" })).statusCode).toBe(404);
    expect((await call("POST", "/api/v1/users", root, { name: "robot", kind: "service", platformAdmin: true })).json().error.code).toBe("INVALID_INPUT");
    expect((await call("POST", "/api/v1/users/ci-deployer/disable", root)).statusCode).toBe(200);
    expect((await call("GET", "/api/v1/whoami", as(token.token))).statusCode).toBe(401);
  });

  it("refuses a job's token every identity change", async () => {
    const job = await app.tokens.mintForJob("job-identity", 60_000);
    expect((await call("POST", "/api/v1/tokens", as(job), { name: "escape" })).statusCode).toBe(403);
    expect((await call("POST", "/api/v1/teams", as(job), { name: "escape" })).statusCode).toBe(403);
    expect((await call("PUT", "/api/v1/teams/default/members/ada", as(job), { role: "admin" })).statusCode).toBe(403);
  });
});
