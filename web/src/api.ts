// The UI's one way to the server: the typed client of src/client (shared with the CLI), sending the
// browser's session cookie and, on every change, the session's CSRF token. A request that finds the
// session gone sends the user to sign-in, keeping the page they were on.
// paved-client.ts itself, not client/index.ts: the index re-exports constants of the zod schemas, which would bundle zod.
import { PavedClient } from "../../src/client/paved-client.ts";
import { PlatformError } from "../../src/core/errors.ts";
import { navigate } from "./router.tsx";

export { PlatformError };

/** The signed-in browser session (GET /auth/session). */
export interface Session {
  name: string;
  kind: string;
  platformAdmin: boolean;
  teams: { team: string; role: string }[];
  team?: string;
  createdAt: number;
  expiresAt: number;
  csrfToken: string;
}

let csrfToken = "";
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** fetch with the session: same-origin cookies, the CSRF header on changes, and sign-in on 401. */
export const sessionFetch: typeof fetch = async (input, init = {}) => {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = new Headers(init.headers);
  if (!SAFE.has(method) && csrfToken) headers.set("x-paved-csrf", csrfToken);
  const response = await fetch(input, { ...init, headers, credentials: "same-origin" });
  if (response.status === 401 && !window.location.pathname.startsWith("/sign-in")) toSignIn();
  return response;
};

/** The client every page uses. */
export const api = new PavedClient({ url: window.location.origin, fetch: sessionFetch });

/** Sends the browser to sign-in; it comes back to the page it was on. */
export function toSignIn(): void {
  const here = window.location.pathname + window.location.search;
  navigate(`/sign-in?return_to=${encodeURIComponent(here)}`, { replace: true });
}

/** The session of this browser, or undefined when it has none. */
export async function loadSession(): Promise<Session | undefined> {
  const response = await fetch("/auth/session", { credentials: "same-origin", headers: { accept: "application/json" } });
  if (response.status === 401) return undefined;
  if (!response.ok) throw new PlatformError("UNAVAILABLE", `the server answered /auth/session with HTTP ${response.status}`);
  const session = (await response.json()) as Session;
  csrfToken = session.csrfToken;
  return session;
}

/** Opens a session with a personal token (POST /auth/session); the token is not kept by the page. */
export async function signInWithToken(token: string): Promise<Session> {
  const response = await fetch("/auth/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ token }),
  });
  const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } } & Session;
  if (!response.ok) throw new PlatformError((body.error?.code as "UNAUTHENTICATED") ?? "UNAUTHENTICATED", body.error?.message ?? `sign-in failed (HTTP ${response.status})`);
  csrfToken = body.csrfToken;
  return body;
}

export async function signInMethods(): Promise<{ sso: boolean; token: boolean }> {
  const response = await fetch("/auth/methods", { headers: { accept: "application/json" } });
  return response.ok ? ((await response.json()) as { sso: boolean; token: boolean }) : { sso: false, token: true };
}

export async function signOut(): Promise<void> {
  await sessionFetch("/auth/logout", { method: "POST" });
  csrfToken = "";
}

/** A relative URL on this server only: what `return_to` may name (never another site, never javascript:). */
export function safeReturnTo(value: string | null): string {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
  return value.startsWith("/sign-in") ? "/" : value;
}

/** An error's message for the user: the server's own words (they say how to fix it). */
export function messageOf(error: unknown): string {
  if (error instanceof PlatformError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
