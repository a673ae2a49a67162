import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../config/index.ts";
import { checkSsoConfig } from "./index.ts";

const sso = { issuer: "https://idp.example/realms/paved", clientId: "paved" };
const load = (overrides: Record<string, unknown>, env: Record<string, string> = {}) => loadConfig({ env, overrides: { dataDir: "/tmp/paved-sso-config", ...overrides } });
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe("auth.sso configuration", () => {
  it("takes the defaults and the client secret from PAVED_SSO_CLIENT_SECRET", () => {
    const config = load({ auth: { sso } }, { PAVED_SSO_CLIENT_SECRET: "s3cret" });
    expect(config.auth.sso).toMatchObject({ ...sso, clientSecret: "s3cret", scopes: ["openid", "profile", "email"], groupsClaim: "groups", teams: [], sessionHours: 12 });
  });

  it("refuses an http issuer unless it is on a loopback address, and unknown roles", () => {
    expect(codeOf(() => load({ auth: { sso: { ...sso, issuer: "http://idp.example" } } }))).toBe("CONFIG");
    expect(load({ auth: { sso: { ...sso, issuer: "http://127.0.0.1:9000" } } }).auth.sso?.issuer).toBe("http://127.0.0.1:9000");
    expect(codeOf(() => load({ auth: { sso: { ...sso, teams: [{ group: "g", team: "t", role: "owner" }] } } }))).toBe("CONFIG");
  });

  it("needs an https publicUrl off loopback (cookies are Secure) and authentication on", () => {
    expect(codeOf(() => checkSsoConfig(load({ host: "0.0.0.0", auth: { sso } })))).toBe("CONFIG");
    expect(codeOf(() => checkSsoConfig(load({ host: "0.0.0.0", publicUrl: "http://paved.internal:8080", auth: { sso } })))).toBe("CONFIG");
    expect(codeOf(() => checkSsoConfig(load({ host: "0.0.0.0", publicUrl: "https://paved.example.com", auth: { sso } })))).toBeUndefined();
    expect(codeOf(() => checkSsoConfig(load({ auth: { sso } })))).toBeUndefined();
    expect(codeOf(() => checkSsoConfig(load({ auth: { disabled: true, sso } })))).toBe("CONFIG");
  });
});
