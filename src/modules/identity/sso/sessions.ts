import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Kysely } from "kysely";
import type { Clock, Principal, TeamRole } from "../../../core/index.ts";
import type { Tables } from "../../../storage/index.ts";
import { hashToken } from "../token-service.ts";

/** A browser session as GET /auth/session shows it to its own browser. */
export interface SessionInfo {
  principal: Principal;
  createdAt: number;
  expiresAt: number;
  /** The value mutating requests send as `x-paved-csrf`. */
  csrfToken: string;
}

/**
 * Browser sessions: a random secret in an HttpOnly cookie, stored as its SHA-256 with the user and
 * an expiry. The user, their platform-admin flag and their team roles are read on every request,
 * so disabling a user or taking them out of a team takes effect at their next click.
 */
export class SessionService {
  constructor(
    private readonly db: Kysely<Tables>,
    private readonly clock: Clock,
  ) {}

  /** Opens a session; returns the cookie's value (never stored). */
  async create(userId: string, expiresAt: number): Promise<string> {
    const now = this.clock.now();
    const secret = randomBytes(32).toString("base64url");
    await this.db.deleteFrom("sessions").where("expires_at", "<=", now).execute();
    await this.db.insertInto("sessions").values({ session_hash: hashToken(secret), user_id: userId, created_at: now, expires_at: expiresAt }).execute();
    return secret;
  }

  /** The session a cookie's value opens, with its user's current roles; undefined when it has ended. */
  async find(secret: string): Promise<SessionInfo | undefined> {
    const row = await this.db
      .selectFrom("sessions")
      .innerJoin("users", "users.user_id", "sessions.user_id")
      .select(["sessions.user_id", "sessions.created_at", "sessions.expires_at", "users.name", "users.kind", "users.platform_admin", "users.disabled_at"])
      .where("sessions.session_hash", "=", hashToken(secret))
      .executeTakeFirst();
    if (!row || row.expires_at <= this.clock.now() || row.disabled_at !== null) return undefined;
    const memberships = await this.db.selectFrom("team_members").select(["team_id", "role"]).where("user_id", "=", row.user_id).execute();
    const principal: Principal = {
      name: row.name,
      kind: row.kind === "service" ? "service" : "user",
      userId: row.user_id,
      platformAdmin: row.platform_admin === 1,
      teams: Object.fromEntries(memberships.map((m) => [m.team_id, m.role as TeamRole])),
      // Like a personal token without a team: a member of exactly one team creates there.
      ...(memberships.length === 1 ? { team: memberships[0]!.team_id } : {}),
    };
    return { principal, createdAt: row.created_at, expiresAt: row.expires_at, csrfToken: csrfTokenOf(secret) };
  }

  /** Ends a session (logout); true when there was one. */
  async remove(secret: string): Promise<boolean> {
    const removed = await this.db.deleteFrom("sessions").where("session_hash", "=", hashToken(secret)).executeTakeFirst();
    return Number(removed.numDeletedRows) > 0;
  }
}

/** The session's CSRF token: derived from the cookie's secret, so only its own browser can learn it (GET /auth/session). */
export function csrfTokenOf(secret: string): string {
  return createHmac("sha256", secret).update("paved-csrf").digest("base64url");
}

export function csrfMatches(secret: string, given: string | undefined): boolean {
  if (!given) return false;
  const expected = Buffer.from(csrfTokenOf(secret));
  const actual = Buffer.from(given);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
