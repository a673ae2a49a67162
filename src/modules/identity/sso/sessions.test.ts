// Browser sessions and the Authenticator on each database dialect: expiry by the injected clock,
// the CSRF header on changes, bearer tokens first, a disabled user or a removed membership at once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../../test/support/databases.ts";
import { PlatformError, randomIds } from "../../../core/index.ts";
import type { Database } from "../../../storage/index.ts";
import { IdentityService } from "../identity-service.ts";
import { TokenService } from "../token-service.ts";
import { Authenticator } from "./authenticator.ts";
import { readCookie, setCookie } from "./cookies.ts";
import { csrfTokenOf, SessionService } from "./sessions.ts";

describe.each(testDialects())("browser sessions (%s)", (dialect) => {
  let database: Database;
  let now = 1_800_000_000_000;
  const clock = { now: () => now };
  let tokens: TokenService;
  let identity: IdentityService;
  let sessions: SessionService;
  let auth: Authenticator;
  let adaId: string;

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (e: unknown) => e as PlatformError,
    );

  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    tokens = new TokenService(database.db, clock, randomIds);
    identity = new IdentityService({ db: database.db, tokens, clock, ids: randomIds });
    sessions = new SessionService(database.db, clock);
    auth = new Authenticator(tokens, sessions);
    await identity.createTeam({ name: "risk" });
    adaId = (await identity.upsertSsoUser({ issuer: "https://idp", subject: "s-ada", preferredName: "ada", platformAdmin: false, teams: [{ team: "risk", role: "developer" }] })).id;
  });
  afterAll(async () => database?.close());

  it("opens a session that lasts until its expiry, by the server's clock", async () => {
    const secret = await sessions.create(adaId, now + 3600_000);
    const cookie = `other=1; paved_session=${secret}`;
    const principal = await auth.authenticate({ cookie, method: "GET" });
    expect(principal).toMatchObject({ name: "ada", kind: "user", userId: adaId, platformAdmin: false, teams: { risk: "developer" }, team: "risk" });
    now += 3600_000;
    const ended = await refusal(auth.authenticate({ cookie, method: "GET" }));
    expect(ended).toMatchObject({ code: "UNAUTHENTICATED", details: { reason: "session" } });
  });

  it("needs the session's CSRF token for every method but GET, HEAD and OPTIONS", async () => {
    const secret = await sessions.create(adaId, now + 3600_000);
    const cookie = `paved_session=${secret}`;
    for (const method of ["GET", "HEAD", "OPTIONS"]) expect((await auth.authenticate({ cookie, method })).name).toBe("ada");
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      expect(await refusal(auth.authenticate({ cookie, method }))).toMatchObject({ code: "FORBIDDEN", details: { reason: "csrf" } });
      expect(await refusal(auth.authenticate({ cookie, method, csrfHeader: csrfTokenOf("another-session-secret-value") }))).toMatchObject({ code: "FORBIDDEN" });
      expect((await auth.authenticate({ cookie, method, csrfHeader: csrfTokenOf(secret) })).name).toBe("ada");
    }
  });

  it("takes a bearer token first (no CSRF header needed), and answers no credentials as before", async () => {
    const secret = await sessions.create(adaId, now + 3600_000);
    const { token } = await tokens.createPersonal({ userId: adaId, name: "cli", expiresAt: now + 3600_000 });
    expect((await auth.authenticate({ authorization: `Bearer ${token}`, cookie: `paved_session=${secret}`, method: "POST" })).name).toBe("ada");
    expect(await refusal(auth.authenticate({ authorization: "Bearer pvd_wrong", cookie: `paved_session=${secret}`, method: "GET" }))).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(await refusal(auth.authenticate({ method: "GET" }))).toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("sees a membership removed, or the user disabled, at the next request", async () => {
    const secret = await sessions.create(adaId, now + 3600_000);
    const cookie = `paved_session=${secret}`;
    await identity.removeMember("risk", "ada");
    expect((await auth.authenticate({ cookie, method: "GET" })).teams).toEqual({});
    await identity.disableUser("ada");
    expect(await refusal(auth.authenticate({ cookie, method: "GET" }))).toMatchObject({ code: "UNAUTHENTICATED", details: { reason: "session" } });
  });

  it("ends a session at logout", async () => {
    const bob = (await identity.upsertSsoUser({ issuer: "https://idp", subject: "s-bob", preferredName: "bob", platformAdmin: false, teams: [] })).id;
    const secret = await sessions.create(bob, now + 3600_000);
    expect(await sessions.remove(secret)).toBe(true);
    expect(await sessions.remove(secret)).toBe(false);
    expect(await sessions.find(secret)).toBeUndefined();
  });
});

describe("session cookies", () => {
  it("reads only well-formed values of the named cookie", () => {
    const value = "a".repeat(43);
    expect(readCookie(`x=1; paved_session=${value}; y=2`, "paved_session")).toBe(value);
    expect(readCookie(["x=1", `paved_session=${value}`], "paved_session")).toBe(value);
    expect(readCookie("paved_session=short", "paved_session")).toBeUndefined();
    expect(readCookie('paved_session="quoted;value"', "paved_session")).toBeUndefined();
    expect(readCookie(undefined, "paved_session")).toBeUndefined();
  });

  it("sets HttpOnly and SameSite=Lax always, Secure when asked", () => {
    expect(setCookie("paved_session", "v", { path: "/", maxAge: 60, secure: true })).toBe("paved_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
    expect(setCookie("paved_session", "v", { path: "/", maxAge: 60, secure: false })).not.toContain("Secure");
  });
});
