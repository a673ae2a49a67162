/** The browser session's cookie. */
export const SESSION_COOKIE = "paved_session";
/** Ties a login in progress to the browser that started it (read only by the callback). */
export const LOGIN_COOKIE = "paved_sso";
export const LOGIN_COOKIE_PATH = "/auth/sso";

/** At most this many bytes of a Cookie header are read. */
const MAX_COOKIE_HEADER = 8192;

/** One cookie's value from a Cookie header; undefined when absent or not a plain token. */
export function readCookie(header: string | string[] | undefined, name: string): string | undefined {
  const text = (Array.isArray(header) ? header.join("; ") : header)?.slice(0, MAX_COOKIE_HEADER);
  if (!text) return undefined;
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    // Paved's cookies are base64url; anything else was not set by Paved.
    return /^[A-Za-z0-9_-]{16,128}$/.test(value) ? value : undefined;
  }
  return undefined;
}

export interface CookieOptions {
  path: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
  /** Sent over https only; off only for an http server on a loopback address. */
  secure: boolean;
}

/** A Set-Cookie value: always HttpOnly and SameSite=Lax (sent on top-level navigations, as the provider's redirect back is). */
export function setCookie(name: string, value: string, options: CookieOptions): string {
  return [`${name}=${value}`, `Path=${options.path}`, `Max-Age=${Math.max(0, Math.floor(options.maxAge))}`, "HttpOnly", "SameSite=Lax", ...(options.secure ? ["Secure"] : [])].join("; ");
}

export function clearCookie(name: string, options: Omit<CookieOptions, "maxAge">): string {
  return setCookie(name, "", { ...options, maxAge: 0 });
}
