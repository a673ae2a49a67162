// Identity: who is calling (users, service accounts and job tokens; API tokens stored hashed),
// the teams they belong to with a role each, and the one authorization policy every route and
// controller action goes through. Below every other module: they declare actions, this decides.
import type { Clock, IdGenerator, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { IdentityService } from "./identity-service.ts";
import { identityRoutes } from "./routes.ts";
import { TokenService } from "./token-service.ts";

export { ACTION_RULES, authorize, mayAttempt, visibleTeams } from "./policy.ts";
export { TokenService, hashToken, newToken, TOKEN_PREFIX, type AdminTokenResult, type TokenInfo } from "./token-service.ts";
export { IdentityService, teamForNew, TEAM_NAME, USER_NAME, type TeamView, type UserView } from "./identity-service.ts";
export { Authenticator, checkSsoConfig, createSso, mapClaims, verifyIdToken, SESSION_COOKIE, readCookie, type RequestCredentials, type SsoConfig, type SsoModule } from "./sso/index.ts";

export interface IdentityModule {
  tokens: TokenService;
  service: IdentityService;
  routes: RouteDefinition[];
}

export function createIdentityModule(deps: { database: Database; clock: Clock; ids: IdGenerator }): IdentityModule {
  const tokens = new TokenService(deps.database.db, deps.clock, deps.ids);
  const service = new IdentityService({ db: deps.database.db, tokens, clock: deps.clock, ids: deps.ids });
  return { tokens, service, routes: identityRoutes(service, tokens, deps.clock) };
}
