// Single sign-on with OpenID Connect: the browser's login and session (cookie + CSRF token), the
// CLI's device login, and the Authenticator that accepts a bearer token or a session. The
// provider is admin configuration (auth.sso); nothing a request says is ever fetched.
import type { Kysely } from "kysely";
import type { Config } from "../../../config/index.ts";
import { PlatformError, type Clock, type Logger, type RouteDefinition } from "../../../core/index.ts";
import type { Tables } from "../../../storage/index.ts";
import type { IdentityService } from "../identity-service.ts";
import type { TokenService } from "../token-service.ts";
import { Authenticator } from "./authenticator.ts";
import { RelyingParty } from "./relying-party.ts";
import { ssoRoutes } from "./routes.ts";
import { SessionService } from "./sessions.ts";
import { isLoopbackHost, secureCookiesFor, SsoService } from "./sso-service.ts";

export { Authenticator, type RequestCredentials } from "./authenticator.ts";
export { verifyIdToken, ID_TOKEN_ALGORITHMS, type IdTokenClaims, type IdTokenExpectations } from "./id-token.ts";
export { mapClaims, type ClaimMapping, type MappedUser } from "./claims.ts";
export { SESSION_COOKIE, readCookie } from "./cookies.ts";
export type { SsoService } from "./sso-service.ts";

export type SsoConfig = NonNullable<Config["auth"]["sso"]>;

export interface SsoModule {
  authenticator: Authenticator;
  sessions: SessionService;
  /** Undefined when single sign-on is not configured (its routes then answer UNSUPPORTED). */
  service: SsoService | undefined;
  routes: RouteDefinition[];
}

export function createSso(deps: {
  db: Kysely<Tables>;
  clock: Clock;
  logger: Logger;
  identity: IdentityService;
  tokens: TokenService;
  settings: SsoConfig | undefined;
  /** The URL browsers reach Paved at; known for certain only once the server listens. */
  publicUrl: () => string;
}): SsoModule {
  const sessions = new SessionService(deps.db, deps.clock);
  const authenticator = new Authenticator(deps.tokens, sessions);
  let service: SsoService | undefined;
  if (deps.settings) {
    const { issuer, clientId, clientSecret, scopes, groupsClaim, usernameClaim, teams, platformAdminGroups, sessionHours, allowedRedirectHosts } = deps.settings;
    service = new SsoService({
      db: deps.db,
      clock: deps.clock,
      logger: deps.logger.child({ component: "sso" }),
      identity: deps.identity,
      tokens: deps.tokens,
      sessions,
      provider: new RelyingParty({ issuer, clientId, clientSecret, scopes }, deps.logger.child({ component: "sso" })),
      settings: { mapping: { groupsClaim, usernameClaim, teams, platformAdminGroups }, sessionHours, allowedRedirectHosts },
      publicUrl: deps.publicUrl,
    });
  }
  const cookies = {
    secure: () => secureCookiesFor(deps.publicUrl()),
    // A session opened with a token lasts as long as one opened with single sign-on (12 h by default).
    sessionMs: () => (deps.settings?.sessionHours ?? 12) * 3600 * 1000,
  };
  return { authenticator, sessions, service, routes: ssoRoutes({ sso: service, sessions, tokens: deps.tokens, clock: deps.clock, cookies }) };
}

/**
 * Refuses, at start, a configuration whose browser sessions could not work: the provider must
 * redirect to a URL users reach, and session cookies are Secure unless Paved is plain http on a
 * loopback address.
 */
export function checkSsoConfig(config: Pick<Config, "host" | "publicUrl" | "auth">): void {
  if (!config.auth.sso) return;
  if (config.auth.disabled) throw new PlatformError("CONFIG", "auth.sso needs authentication on; remove auth.disabled");
  if (!config.publicUrl) {
    if (isLoopbackHost(config.host)) return;
    throw new PlatformError(
      "CONFIG",
      `auth.sso needs publicUrl, the https URL users reach Paved at (the provider redirects browsers to <publicUrl>/auth/sso/callback); set publicUrl or PAVED_PUBLIC_URL`,
    );
  }
  const url = new URL(config.publicUrl);
  if (url.protocol !== "https:" && !isLoopbackHost(url.hostname)) {
    throw new PlatformError("CONFIG", `auth.sso needs an https publicUrl (session cookies are Secure), not ${config.publicUrl}; serve Paved behind TLS or bind a loopback address`);
  }
}
