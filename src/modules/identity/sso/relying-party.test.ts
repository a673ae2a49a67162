// The relying party's answers when the provider cannot be used: nothing listening, or a discovery
// document that names another issuer (a misconfiguration, or someone else's server).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestProvider, type TestProvider } from "../../../../test/support/oidc-provider.ts";
import { createLogger, PlatformError } from "../../../core/index.ts";
import { RelyingParty } from "./relying-party.ts";

describe("the relying party's provider", () => {
  let idp: TestProvider;
  const login = { redirectUri: "http://127.0.0.1:1/auth/sso/callback", state: "s", nonce: "n", codeVerifier: "v".repeat(43) };
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as PlatformError,
    );

  beforeAll(async () => {
    idp = await startTestProvider({ accounts: [], redirectUris: () => [login.redirectUri] });
  });
  afterAll(async () => idp?.close());

  it("answers UNAVAILABLE when the issuer does not answer, and tries again at the next sign-in", async () => {
    const party = new RelyingParty({ issuer: "http://127.0.0.1:9", clientId: "paved", scopes: ["openid"] }, createLogger("silent"));
    for (let i = 0; i < 2; i++) expect(await failure(party.authorizationUrl(login))).toMatchObject({ code: "UNAVAILABLE", details: { reason: "sso_provider" } });
  });

  it("refuses a discovery document that names another issuer", async () => {
    // The same server under another name: its document says http://localhost:<port>.
    const issuer = idp.issuer.replace("localhost", "127.0.0.1");
    const party = new RelyingParty({ issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, scopes: ["openid"] }, createLogger("silent"));
    expect(await failure(party.authorizationUrl(login))).toMatchObject({ code: "UNAVAILABLE", details: { reason: "sso_provider" } });
  });

  it("builds the authorization request: code with PKCE S256, state, nonce and the scopes with openid", async () => {
    const party = new RelyingParty({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, scopes: ["profile", "groups"] }, createLogger("silent"));
    const url = await party.authorizationUrl(login);
    expect(url.origin).toBe(idp.issuer);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: "code",
      client_id: idp.clientId,
      redirect_uri: login.redirectUri,
      state: "s",
      nonce: "n",
      code_challenge_method: "S256",
      scope: "openid profile groups",
    });
    expect(url.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
