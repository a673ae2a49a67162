// A Paved server signing in through a real test OpenID provider: the provider first (Paved's
// configuration needs its issuer), then Paved on a free loopback port, then the teams the groups
// map to. Shared by the single sign-on tests.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config/index.ts";
import type { Dialect } from "../../src/storage/index.ts";
import { testPostgresUrl } from "./databases.ts";
import { startTestProvider, type TestAccount, type TestProvider } from "./oidc-provider.ts";

export const TEST_ACCOUNTS: TestAccount[] = [
  { sub: "sub-ada", username: "ada", password: "ada-pw", name: "Ada Lovelace", email: "ada@example.com", groups: ["risk-devs", "fraud-viewers"] },
  { sub: "sub-bob", username: "bob", password: "bob-pw", email: "bob@example.com", groups: ["risk-devs"] },
  { sub: "sub-cyd", username: "cyd", password: "cyd-pw", groups: ["paved-admins"] },
];

/** How the test provider's groups map to Paved's teams. */
export const TEST_GROUP_MAPPING = [
  { group: "risk-devs", team: "risk", role: "developer" as const },
  { group: "fraud-viewers", team: "fraud", role: "viewer" as const },
  { group: "risk-leads", team: "risk", role: "maintainer" as const },
];

export interface SsoServer {
  idp: TestProvider;
  app: App;
  /** Paved's base URL (http://127.0.0.1:<port>). */
  url: string;
  /** Headers with the platform admin's token. */
  admin: Record<string, string>;
  /** A JSON call as the platform admin. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, any> }>;
  close(): Promise<void>;
}

export async function startSsoServer(options: { dialect?: Dialect; accounts?: TestAccount[] } = {}): Promise<SsoServer> {
  let url = "";
  const idp = await startTestProvider({
    accounts: (options.accounts ?? TEST_ACCOUNTS).map((a) => ({ ...a, groups: [...a.groups] })),
    redirectUris: () => [`${url}/auth/sso/callback`],
  });
  const dataDir = mkdtempSync(join(tmpdir(), "paved-sso-"));
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir,
      ...(options.dialect === "postgres" ? { databaseUrl: await testPostgresUrl() } : {}),
      port: 0,
      logLevel: "silent",
      compute: { gpus: [], cpus: 1, memoryMiB: 512 },
      auth: {
        disabled: false,
        sso: {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          scopes: ["openid", "profile", "email", "groups"],
          teams: TEST_GROUP_MAPPING,
          platformAdminGroups: ["paved-admins"],
        },
      },
    },
  });
  const app = await createApp(config);
  url = await app.listen();
  const admin = { authorization: `Bearer ${app.generatedAdminToken!}` };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...admin, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  for (const team of ["risk", "fraud"]) {
    const created = await api("POST", "/api/v1/teams", { name: team });
    if (created.status !== 200) throw new Error(`could not create team ${team}: ${JSON.stringify(created.body)}`);
  }
  return {
    idp,
    app,
    url,
    admin,
    api,
    async close() {
      await app.close();
      await idp.close();
    },
  };
}
