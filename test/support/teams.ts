import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig, type ConfigInput } from "../../src/config/index.ts";
import type { TeamRole } from "../../src/core/index.ts";
import type { Dialect } from "../../src/storage/index.ts";
import { testPostgresUrl } from "./databases.ts";

export type AuthHeaders = { authorization: string };

/**
 * An app on a fresh database of the dialect (a new PostgreSQL database each time), with the
 * bootstrap admin's headers; `overrides` are more settings (`{ host: "127.0.0.1", port: 0 }` to listen).
 */
export async function createTeamsTestApp(dialect: Dialect, prefix: string, overrides: Partial<ConfigInput> = {}): Promise<{ app: App; admin: AuthHeaders }> {
  const dataDir = mkdtempSync(join(tmpdir(), `paved-${prefix}-`));
  const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
  const app = await createApp(
    loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, ...overrides, ...(databaseUrl ? { databaseUrl } : {}) } }),
  );
  return { app, admin: { authorization: `Bearer ${app.generatedAdminToken}` } };
}

/**
 * Creates the teams and, for each member, a user with the given roles and a personal token (as a
 * person would make with `paved tokens create`), through the API as the platform admin.
 */
export async function createMembers<N extends string>(
  app: App,
  admin: AuthHeaders,
  teams: string[],
  members: Record<N, { team: string; role: TeamRole }[]>,
): Promise<Record<N, AuthHeaders>> {
  for (const name of teams) {
    const res = await app.server.inject({ method: "POST", url: "/api/v1/teams", headers: admin, payload: { name } });
    expect(res.statusCode, res.body).toBe(200);
  }
  const out = {} as Record<N, AuthHeaders>;
  for (const [name, roles] of Object.entries(members) as [N, { team: string; role: TeamRole }[]][]) {
    const user = await app.server.inject({ method: "POST", url: "/api/v1/users", headers: admin, payload: { name, teams: roles } });
    expect(user.statusCode, user.body).toBe(200);
    const { token } = await app.tokens.createPersonal({ userId: user.json().id, name: `${name}-test` });
    out[name] = { authorization: `Bearer ${token}` };
  }
  return out;
}
