import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import * as oidc from "openid-client";
import { PlatformError, invalidInput, type Clock, type Logger, type TeamRole } from "../../../core/index.ts";
import type { Tables } from "../../../storage/index.ts";
import type { IdentityService } from "../identity-service.ts";
import { hashToken, type TokenService } from "../token-service.ts";
import { mapClaims, type ClaimMapping } from "./claims.ts";
import type { IdTokenClaims } from "./id-token.ts";
import { refused, type RelyingParty } from "./relying-party.ts";
import type { SessionService } from "./sessions.ts";

/** How long a browser has between starting a login and coming back from the provider. */
const BROWSER_LOGIN_MS = 10 * 60 * 1000;
/** The longest a device login may wait for its user, whatever the provider allows. */
const MAX_DEVICE_LOGIN_MS = 30 * 60 * 1000;
/** Logins in progress at once, all clients together: each is a row anyone may create without a token. */
const MAX_PENDING_LOGINS = 10_000;
/** A CLI that polls up to this early is answered by the provider all the same (timers are not exact). */
const POLL_SLACK_MS = 1000;

export interface SsoSettings {
  mapping: ClaimMapping;
  sessionHours: number;
  /** Hosts besides Paved's own that `return_to` may name. */
  allowedRedirectHosts: string[];
}

export interface SignedIn {
  userId: string;
  name: string;
  platformAdmin: boolean;
  teams: { team: string; role: TeamRole }[];
  expiresAt: number;
}

export type DevicePollResult = { status: "pending"; interval: number } | ({ status: "complete"; token: string } & Omit<SignedIn, "userId">);

/**
 * Single sign-on: a browser's login (authorization code with PKCE; the state, nonce and verifier
 * kept server-side in a single-use record tied to the browser by a cookie) and the CLI's device
 * login (which the server runs on the CLI's behalf, since the CLI cannot hold the client secret).
 * Each verified login maps the user's groups to team roles and replaces their memberships.
 */
export class SsoService {
  constructor(
    private readonly deps: {
      db: Kysely<Tables>;
      clock: Clock;
      logger: Logger;
      identity: IdentityService;
      tokens: TokenService;
      sessions: SessionService;
      provider: RelyingParty;
      settings: SsoSettings;
      /** The URL browsers reach Paved at (the redirect URI is `<it>/auth/sso/callback`). */
      publicUrl: () => string;
    },
  ) {}

  get redirectUri(): string {
    return `${this.deps.publicUrl().replace(/\/+$/, "")}/auth/sso/callback`;
  }

  /** Whether cookies carry `Secure`: always, except for an http server on a loopback address. */
  get secureCookies(): boolean {
    return secureCookiesFor(this.deps.publicUrl());
  }

  get sessionMs(): number {
    return this.deps.settings.sessionHours * 3600 * 1000;
  }

  /**
   * Starts a browser's login: returns where to send it and the value of the cookie that ties the
   * login to it (the browser's existing one is kept, so two tabs may sign in at once).
   */
  async beginBrowserLogin(input: { returnTo?: string | undefined; browserSecret?: string | undefined }): Promise<{ location: string; browserSecret: string }> {
    const returnTo = this.safeReturnTo(input.returnTo);
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const browserSecret = input.browserSecret ?? randomBytes(32).toString("base64url");
    const location = await this.deps.provider.authorizationUrl({ redirectUri: this.redirectUri, state, nonce, codeVerifier });
    const now = await this.makeRoom();
    await this.deps.db
      .insertInto("sso_logins")
      .values({
        key_hash: hashToken(state),
        kind: "browser",
        browser_hash: hashToken(browserSecret),
        nonce,
        code_verifier: codeVerifier,
        return_to: returnTo,
        device_code: null,
        client_name: null,
        interval_seconds: null,
        next_poll_at: null,
        created_at: now,
        expires_at: now + BROWSER_LOGIN_MS,
      })
      .execute();
    return { location: location.href, browserSecret };
  }

  /**
   * Finishes a browser's login at the callback: the state must name a login this browser started
   * and nobody finished; the code is exchanged once and the ID token verified; then the user is
   * created or updated and a session opened. Nothing changes when any check fails.
   */
  async finishBrowserLogin(input: { query: Record<string, string>; browserSecret?: string | undefined }): Promise<{ sessionSecret: string; returnTo: string; expiresAt: number; user: SignedIn }> {
    const state = input.query.state;
    const wrongState = () => refused("sso_state", "this sign-in was not started in this browser, has expired or was already used; start again at /auth/sso/login");
    if (!state) throw wrongState();
    const login = await this.deps.db.selectFrom("sso_logins").selectAll().where("key_hash", "=", hashToken(state)).where("kind", "=", "browser").executeTakeFirst();
    const now = this.deps.clock.now();
    if (!login || login.expires_at <= now || !input.browserSecret || login.browser_hash !== hashToken(input.browserSecret)) throw wrongState();
    // Used once: whoever deletes it finishes it; a replayed callback finds nothing.
    const claimed = await this.deps.db.deleteFrom("sso_logins").where("key_hash", "=", login.key_hash).executeTakeFirst();
    if (Number(claimed.numDeletedRows) !== 1) throw wrongState();
    if (input.query.error) {
      this.deps.logger.info({ error: input.query.error.slice(0, 100) }, "single sign-on: the provider returned an error to the callback");
      throw refused("sso_denied", "the sign-in was cancelled or refused at the identity provider; sign in again at /auth/sso/login");
    }
    const callback = new URL(this.redirectUri);
    for (const [key, value] of Object.entries(input.query)) callback.searchParams.set(key, value);
    const claims = await this.deps.provider.exchangeCode(callback, { state, nonce: login.nonce!, codeVerifier: login.code_verifier!, now });
    const user = await this.signIn(claims);
    const expiresAt = now + this.sessionMs;
    const sessionSecret = await this.deps.sessions.create(user.userId, expiresAt);
    return { sessionSecret, returnTo: login.return_to ?? "/", expiresAt, user: { ...user, expiresAt } };
  }

  /** Starts a device login for the CLI; the handle (returned once) is what it polls with. */
  async startDeviceLogin(input: { client?: string | undefined }): Promise<{ handle: string; userCode: string; verificationUri: string; verificationUriComplete?: string | undefined; expiresIn: number; interval: number }> {
    // Room first: each start asks the provider, and anyone may start one.
    const now = await this.makeRoom();
    const device = await this.deps.provider.startDevice();
    const handle = randomBytes(32).toString("base64url");
    const expiresIn = Math.min(device.expiresInSeconds * 1000, MAX_DEVICE_LOGIN_MS);
    await this.deps.db
      .insertInto("sso_logins")
      .values({
        key_hash: hashToken(handle),
        kind: "device",
        browser_hash: null,
        nonce: null,
        code_verifier: null,
        return_to: null,
        device_code: device.deviceCode,
        client_name: clientName(input.client),
        interval_seconds: device.intervalSeconds,
        next_poll_at: now + device.intervalSeconds * 1000,
        created_at: now,
        expires_at: now + expiresIn,
      })
      .execute();
    return {
      handle,
      userCode: device.userCode,
      verificationUri: device.verificationUri,
      ...(device.verificationUriComplete ? { verificationUriComplete: device.verificationUriComplete } : {}),
      expiresIn: Math.floor(expiresIn / 1000),
      interval: device.intervalSeconds,
    };
  }

  /**
   * One poll of a device login. Pending until the user finished at the provider; then the user is
   * signed in and a personal token named `sso-<client>` minted, valid as long as a session, and
   * returned once (the login is deleted).
   */
  async pollDeviceLogin(handle: string): Promise<DevicePollResult> {
    const key = hashToken(handle);
    const login = await this.deps.db.selectFrom("sso_logins").selectAll().where("key_hash", "=", key).where("kind", "=", "device").executeTakeFirst();
    const now = this.deps.clock.now();
    if (!login) throw refused("sso_state", "no device login has this handle (finished, expired or never started); run `paved login --sso` again");
    if (login.expires_at <= now) {
      await this.deps.db.deleteFrom("sso_logins").where("key_hash", "=", key).execute();
      throw refused("sso_expired", "the device login expired before it was finished; run `paved login --sso` again");
    }
    let interval = login.interval_seconds ?? 5;
    if (login.next_poll_at !== null && now < login.next_poll_at - POLL_SLACK_MS) return { status: "pending", interval };
    let answer;
    try {
      answer = await this.deps.provider.pollDevice(login.device_code!);
    } catch (error) {
      // The provider said no for good (denied, expired, refused): this login is over.
      if (error instanceof PlatformError && error.code === "UNAUTHENTICATED") await this.deps.db.deleteFrom("sso_logins").where("key_hash", "=", key).execute();
      throw error;
    }
    if (answer.status === "pending") {
      if (answer.slowDown) interval += 5;
      await this.deps.db.updateTable("sso_logins").set({ interval_seconds: interval, next_poll_at: now + interval * 1000 }).where("key_hash", "=", key).execute();
      return { status: "pending", interval };
    }
    const claimed = await this.deps.db.deleteFrom("sso_logins").where("key_hash", "=", key).executeTakeFirst();
    if (Number(claimed.numDeletedRows) !== 1) throw refused("sso_state", "this device login was already finished; run `paved login --sso` again");
    const claims = await this.deps.provider.verify(answer.idToken, undefined, now);
    const user = await this.signIn(claims);
    const expiresAt = now + this.sessionMs;
    const { token } = await this.deps.tokens.createPersonal({ userId: user.userId, name: `sso-${login.client_name ?? "cli"}`, team: null, expiresAt });
    return { status: "complete", token, name: user.name, platformAdmin: user.platformAdmin, teams: user.teams, expiresAt };
  }

  /** Creates or updates the user a verified ID token stands for, with the team roles their groups map to. */
  private async signIn(claims: IdTokenClaims): Promise<Omit<SignedIn, "expiresAt">> {
    const mapped = mapClaims(claims, this.deps.settings.mapping);
    const existing = await this.deps.db
      .selectFrom("users")
      .select(["disabled_at"])
      .where("sso_issuer", "=", mapped.issuer)
      .where("sso_subject", "=", mapped.subject)
      .executeTakeFirst();
    if (existing && existing.disabled_at !== null) {
      throw refused("user_disabled", "this user is disabled in Paved; ask a platform admin (`paved users ls`)");
    }
    const user = await this.deps.identity.upsertSsoUser(mapped);
    const unknown = mapped.teams.filter((t) => !user.teams.some((held) => held.team === t.team)).map((t) => t.team);
    if (unknown.length) this.deps.logger.warn({ user: user.name, teams: unknown }, "single sign-on: groups map to teams that do not exist; create them with `paved teams create`");
    return { userId: user.id, name: user.name, platformAdmin: user.platformAdmin, teams: user.teams };
  }

  /** Forgets expired logins and refuses a new one when too many are in progress; returns now. */
  private async makeRoom(): Promise<number> {
    const now = this.deps.clock.now();
    await this.deps.db.deleteFrom("sso_logins").where("expires_at", "<=", now).execute();
    const { count } = await this.deps.db.selectFrom("sso_logins").select((eb) => eb.fn.countAll<number>().as("count")).executeTakeFirstOrThrow();
    if (Number(count) >= MAX_PENDING_LOGINS) {
      throw new PlatformError("QUOTA_EXCEEDED", `${MAX_PENDING_LOGINS} sign-ins are in progress; try again in a few minutes`);
    }
    return now;
  }

  /** Where a login may return: a path on Paved, or a URL on Paved's host or an allowed one. */
  private safeReturnTo(value: string | undefined): string {
    if (value === undefined || value === "") return "/";
    const refuse = () =>
      invalidInput(`return_to must be a path on this server (e.g. /experiments) or a URL on one of its hosts (auth.sso.allowedRedirectHosts: ${this.deps.settings.allowedRedirectHosts.join(", ") || "none"})`);
    // Control characters and backslashes are read differently by browsers: never pass them on.
    if (value.length > 2048 || /[\u0000-\u001f\u007f\\]/.test(value)) throw refuse();
    if (value.startsWith("/")) {
      if (value.startsWith("//")) throw refuse();
      return value;
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw refuse();
    }
    const own = new URL(this.deps.publicUrl());
    const hostAllowed = url.host === own.host || this.deps.settings.allowedRedirectHosts.includes(url.host) || this.deps.settings.allowedRedirectHosts.includes(url.hostname);
    const schemeAllowed = url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
    if (!hostAllowed || !schemeAllowed || url.username || url.password) throw refuse();
    return url.href;
  }
}

/** Whether Paved's cookies carry `Secure` at this public URL: always, except for http on a loopback address. */
export function secureCookiesFor(publicUrl: string): boolean {
  const url = new URL(publicUrl);
  return !(url.protocol === "http:" && isLoopbackHost(url.hostname));
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The CLI's host name as a token name's suffix: letters, digits, '.', '_' and '-' only. */
function clientName(given: string | undefined): string {
  const cleaned = (given ?? "").toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  return cleaned || "cli";
}
