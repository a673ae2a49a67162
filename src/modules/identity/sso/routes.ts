import { HttpResponse, PlatformError, route, type Clock, type RouteDefinition } from "../../../core/index.ts";
import type { TokenService } from "../token-service.ts";
import { clearCookie, LOGIN_COOKIE, LOGIN_COOKIE_PATH, readCookie, SESSION_COOKIE, setCookie } from "./cookies.ts";
import { SessionView, SignInMethods, SsoCallbackQuery, TokenSignInBody, SsoDeviceBody, SsoDevicePoll, SsoDevicePollBody, SsoDeviceStart, SsoLoginQuery } from "./schema.ts";
import type { SessionInfo, SessionService } from "./sessions.ts";
import type { SsoService } from "./sso-service.ts";

/** Answers that carry secrets (cookies, tokens, redirects with state) are never cached. */
const NO_STORE = { "cache-control": "no-store" };

/**
 * The sign-in routes: the browser's login and callback, its session and logout, and the device
 * login the CLI polls. They answer UNSUPPORTED when single sign-on is not configured.
 */
export interface SessionRoutesDeps {
  /** Undefined when single sign-on is not configured: its routes answer UNSUPPORTED. */
  sso: SsoService | undefined;
  sessions: SessionService;
  tokens: TokenService;
  clock: Clock;
  cookies: { secure: () => boolean; sessionMs: () => number };
}

export function ssoRoutes({ sso, sessions, tokens, clock, cookies }: SessionRoutesDeps): RouteDefinition[] {
  const tags = ["identity"];
  const configured = (): SsoService => {
    if (!sso) throw new PlatformError("UNSUPPORTED", "single sign-on is not configured on this server; an admin sets auth.sso (docs/teams.md#single-sign-on), or use a token (`paved login`)");
    return sso;
  };
  return [
    route({
      method: "GET",
      url: "/auth/sso/login",
      summary: "Sign in in a browser: redirects to the identity provider (authorization code with PKCE), which returns to /auth/sso/callback",
      tags,
      public: true,
      action: "platform:read",
      query: SsoLoginQuery,
      handler: async ({ query, headers }) => {
        const service = configured();
        const { location, browserSecret } = await service.beginBrowserLogin({ returnTo: query.return_to, browserSecret: readCookie(headers.cookie, LOGIN_COOKIE) });
        const cookie = setCookie(LOGIN_COOKIE, browserSecret, { path: LOGIN_COOKIE_PATH, maxAge: 600, secure: service.secureCookies });
        return new HttpResponse(303, { location, "set-cookie": cookie, ...NO_STORE });
      },
    }),
    route({
      method: "GET",
      url: "/auth/sso/callback",
      summary: "Where the identity provider returns a browser: checks the login, exchanges the code once, verifies the ID token, opens a session",
      tags,
      public: true,
      action: "platform:read",
      query: SsoCallbackQuery,
      handler: async ({ query, headers }) => {
        const service = configured();
        const given = Object.fromEntries(Object.entries(query).filter((e): e is [string, string] => typeof e[1] === "string"));
        const { sessionSecret, returnTo } = await service.finishBrowserLogin({ query: given, browserSecret: readCookie(headers.cookie, LOGIN_COOKIE) });
        const secure = service.secureCookies;
        return new HttpResponse(303, {
          location: returnTo,
          "set-cookie": [
            setCookie(SESSION_COOKIE, sessionSecret, { path: "/", maxAge: service.sessionMs / 1000, secure }),
            clearCookie(LOGIN_COOKIE, { path: LOGIN_COOKIE_PATH, secure }),
          ],
          ...NO_STORE,
        });
      },
    }),
    route({
      method: "GET",
      url: "/auth/session",
      summary: "The browser session this request's cookie opens: who, which teams, until when, and its CSRF token",
      tags,
      action: "platform:read",
      response: SessionView,
      handler: async ({ headers }) => {
        const secret = readCookie(headers.cookie, SESSION_COOKIE);
        const session = secret === undefined ? undefined : await sessions.find(secret);
        if (!session) throw new PlatformError("UNAUTHENTICATED", "this request has no browser session; sign in at /sign-in (a personal token, or single sign-on at /auth/sso/login)", { reason: "session" });
        return sessionView(session);
      },
    }),
    route({
      method: "POST",
      url: "/auth/session",
      summary: "Sign in a browser with a personal token: opens a session (HttpOnly cookie) that ends with the token's expiry at the latest; answers the session and its CSRF token",
      tags,
      // The token in the body is the credential; a job's token is refused.
      public: true,
      action: "platform:read",
      body: TokenSignInBody,
      response: SessionView,
      handler: async ({ body }) => {
        const { userId, expiresAt: tokenExpiry } = await tokens.personalTokenUser(body.token);
        const expiresAt = Math.min(clock.now() + cookies.sessionMs(), tokenExpiry ?? Infinity);
        const secret = await sessions.create(userId, expiresAt);
        const session = await sessions.find(secret);
        if (!session) throw new PlatformError("UNAUTHENTICATED", "this token's user can no longer sign in", { reason: "session" });
        const maxAge = Math.max(1, Math.floor((expiresAt - clock.now()) / 1000));
        return new HttpResponse(200, { "set-cookie": setCookie(SESSION_COOKIE, secret, { path: "/", maxAge, secure: cookies.secure() }), ...NO_STORE }, sessionView(session));
      },
    }),
    route({
      method: "GET",
      url: "/auth/methods",
      summary: "How a browser may sign in here: single sign-on (when configured) and personal tokens",
      tags,
      public: true,
      action: "platform:read",
      response: SignInMethods,
      handler: async () => ({ sso: sso !== undefined, token: true }),
    }),
    route({
      method: "POST",
      url: "/auth/logout",
      summary: "Sign out: ends this browser's session (send x-paved-csrf) and clears its cookie",
      tags,
      // Ending one's own session is like revoking one's own token.
      action: "tokens:write",
      resource: async ({ principal }) => ({ kind: "token", id: "session", ...(principal.userId ? { userId: principal.userId } : {}) }),
      handler: async ({ headers }) => {
        const secret = readCookie(headers.cookie, SESSION_COOKIE);
        const signedOut = secret === undefined ? false : await sessions.remove(secret);
        return new HttpResponse(200, { "set-cookie": clearCookie(SESSION_COOKIE, { path: "/", secure: cookies.secure() }), ...NO_STORE }, { signedOut });
      },
    }),
    route({
      method: "POST",
      url: "/auth/sso/device",
      summary: "Start a device login for `paved login --sso`: the server runs the provider's device grant for the CLI and answers the code to show",
      tags,
      public: true,
      action: "platform:read",
      body: SsoDeviceBody,
      response: SsoDeviceStart,
      handler: async ({ body }) => configured().startDeviceLogin({ client: body.client }),
    }),
    route({
      method: "POST",
      url: "/auth/sso/device/poll",
      summary: "Poll a device login: pending until the user finished at the provider, then a personal token (shown once)",
      tags,
      public: true,
      action: "platform:read",
      body: SsoDevicePollBody,
      response: SsoDevicePoll,
      handler: async ({ body }) => {
        const answer = await configured().pollDeviceLogin(body.handle);
        return answer.status === "complete" ? new HttpResponse(200, NO_STORE, answer) : answer;
      },
    }),
  ];
}

function sessionView(session: SessionInfo): SessionView {
  const { principal } = session;
  return {
    name: principal.name,
    kind: principal.kind,
    platformAdmin: principal.platformAdmin,
    teams: Object.entries(principal.teams)
      .map(([team, role]) => ({ team, role }))
      .sort((a, b) => a.team.localeCompare(b.team)),
    ...(principal.team ? { team: principal.team } : {}),
    createdAt: session.createdAt,
    expiresAt: session.expiresAt,
    csrfToken: session.csrfToken,
  };
}
