import { PlatformError, type Principal } from "../../../core/index.ts";
import type { TokenService } from "../token-service.ts";
import { readCookie, SESSION_COOKIE } from "./cookies.ts";
import { csrfMatches, type SessionService } from "./sessions.ts";

/** What a request offers to prove who sends it. */
export interface RequestCredentials {
  authorization?: string | undefined;
  cookie?: string | string[] | undefined;
  method: string;
  /** The `x-paved-csrf` header. */
  csrfHeader?: string | undefined;
}

/** Methods a browser may send cross-site on its own (links, images): they never change anything, so they need no CSRF token. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Who sends a request: a bearer token (API clients, the CLI, jobs) or, without one, a browser
 * session's cookie. A browser sends its cookie with requests that other sites make it send, so
 * a mutating request on a session also needs the session's CSRF token in `x-paved-csrf`; a bearer
 * token is never sent by a browser on its own, so it needs none.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly sessions: SessionService,
  ) {}

  async authenticate(request: RequestCredentials): Promise<Principal> {
    if (request.authorization !== undefined) return this.tokens.authenticate(request.authorization);
    const secret = readCookie(request.cookie, SESSION_COOKIE);
    if (secret === undefined) return this.tokens.authenticate(undefined);
    const session = await this.sessions.find(secret);
    if (!session) {
      throw new PlatformError("UNAUTHENTICATED", "your browser session has ended (signed out, expired or disabled); sign in again at /auth/sso/login", { reason: "session" });
    }
    if (!SAFE_METHODS.has(request.method.toUpperCase()) && !csrfMatches(secret, request.csrfHeader)) {
      throw new PlatformError("FORBIDDEN", "a change made with a browser session needs the header x-paved-csrf set to the session's csrfToken (GET /auth/session); API clients use a bearer token instead", {
        reason: "csrf",
      });
    }
    return session.principal;
  }
}
