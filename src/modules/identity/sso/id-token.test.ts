// The ID-token checks, against the keys a real provider publishes (its JWKS, found through its
// discovery document, as at sign-in): tokens built with jose that the provider could have signed
// but carry a wrong claim, and tokens it never signed. Each is refused with a stable code and the
// name of the check, and the answer carries nothing of the token.
import { SignJWT, UnsecuredJWT, base64url, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestProvider, type TestProvider } from "../../../../test/support/oidc-provider.ts";
import { createLogger, PlatformError } from "../../../core/index.ts";
import { RelyingParty } from "./relying-party.ts";

describe("ID token verification", () => {
  let idp: TestProvider;
  let party: RelyingParty;
  const NOW = Date.now();
  const seconds = (ms: number) => Math.floor(ms / 1000);

  /** Claims the provider would sign for Paved's login with nonce `n-1`, changed by `change`. */
  const claims = (change: Record<string, unknown> = {}) => ({
    iss: idp.issuer,
    aud: idp.clientId,
    sub: "sub-ada",
    nonce: "n-1",
    iat: seconds(NOW) - 5,
    exp: seconds(NOW) + 300,
    groups: ["risk-devs"],
    ...change,
  });
  const signed = (payload: Record<string, unknown>, key = idp.signingKey.privateKey, header: Record<string, unknown> = {}) =>
    new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid: idp.signingKey.kid, ...header }).sign(key);

  async function refusal(token: string, nonce: string | undefined = "n-1"): Promise<PlatformError> {
    const error = await party.verify(token, nonce, NOW).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PlatformError);
    const refused = error as PlatformError;
    // Nothing of the token or its claims in the answer.
    if (token.length > 8) expect(refused.message).not.toContain(token);
    expect(refused.message).not.toContain("sub-ada");
    expect(JSON.stringify(refused.details)).not.toContain("sub-ada");
    return refused;
  }

  beforeAll(async () => {
    idp = await startTestProvider({ accounts: [], redirectUris: () => ["http://127.0.0.1:1/auth/sso/callback"] });
    party = new RelyingParty({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, scopes: ["openid"] }, createLogger("silent"));
  });
  afterAll(async () => idp?.close());

  it("accepts a token the provider signed for this login", async () => {
    const verified = await party.verify(await signed(claims()), "n-1", NOW);
    expect(verified).toMatchObject({ sub: "sub-ada", groups: ["risk-devs"] });
    // A device login sends no nonce, so none is expected.
    expect((await party.verify(await signed(claims({ nonce: undefined })), undefined, NOW)).sub).toBe("sub-ada");
  });

  it.each([
    ["another issuer", { iss: "http://localhost:1" }, "issuer"],
    ["another audience", { aud: "someone-else" }, "audience"],
    ["several audiences without azp", { aud: ["someone-else", "paved"] }, "audience"],
    ["an azp of another client", { azp: "someone-else" }, "audience"],
    ["an expired token", { iat: seconds(NOW) - 400, exp: seconds(NOW) - 120 }, "expired"],
    ["a token issued long ago with a far expiry", { iat: seconds(NOW) - 3600, exp: seconds(NOW) + 3600 }, "too-old"],
    ["a token not valid yet", { nbf: seconds(NOW) + 600 }, "not-yet-valid"],
    ["another login's nonce", { nonce: "n-2" }, "nonce"],
    ["no nonce where the login sent one", { nonce: undefined }, "nonce"],
  ])("refuses %s", async (_name, change, check) => {
    const refused = await refusal(await signed(claims(change)));
    expect(refused.code).toBe("UNAUTHENTICATED");
    expect(refused.details).toEqual({ reason: "sso_id_token", check });
  });

  it("refuses alg: none", async () => {
    const token = new UnsecuredJWT(claims()).encode();
    expect((await refusal(token)).details).toEqual({ reason: "sso_id_token", check: "algorithm" });
  });

  it("refuses a token signed with a secret shared with the client (HS256)", async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(idp.clientSecret));
    expect((await refusal(token)).details).toEqual({ reason: "sso_id_token", check: "algorithm" });
  });

  it("refuses a forged signature: another key under the provider's key id, or under a key id it never published", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    expect((await refusal(await signed(claims(), privateKey))).details).toEqual({ reason: "sso_id_token", check: "signature" });
    expect((await refusal(await signed(claims(), privateKey, { kid: "not-published" }))).details).toEqual({ reason: "sso_id_token", check: "signature" });
  });

  it("refuses a genuine token whose claims were changed after signing", async () => {
    const [header, , signature] = (await signed(claims())).split(".");
    const tampered = `${header}.${base64url.encode(JSON.stringify(claims({ sub: "sub-admin" })))}.${signature}`;
    expect((await refusal(tampered)).details).toEqual({ reason: "sso_id_token", check: "signature" });
  });

  it.each([["not a JWT"], ["a.b.c"], [""]])("refuses a malformed token %j", async (token) => {
    const refused = await refusal(token);
    expect(refused.code).toBe("UNAUTHENTICATED");
    expect((refused.details as { reason: string }).reason).toBe("sso_id_token");
  });
});
