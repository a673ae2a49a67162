import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { PlatformError, notFound, type Clock, type IdGenerator, type Principal, type TeamRole } from "../../core/index.ts";
import { BOOTSTRAP_ADMIN_ID, type Tables } from "../../storage/index.ts";

export const TOKEN_PREFIX = "pvd_";
const MAX_REMEMBERED_HASHES = 1024;
/** How long a resolved token is trusted without asking the database again. */
const CACHE_MS = 5000;
/** The name of the admin user's token that `paved up` generates or takes from configuration. */
const ADMIN_TOKEN_NAME = "admin";

export interface AdminTokenResult {
  /** Set when this start generated the admin token: print it once. */
  generated?: string;
  /** How many earlier admin tokens the configured one replaced (revoked). */
  replaced: number;
}

/** A personal token as listed: never its value, which exists only when it is created. */
export interface TokenInfo {
  id: string;
  name: string;
  /** The user (or service account) it acts as. */
  user: string;
  /** The team new resources go to when a request names none. */
  team: string | null;
  createdAt: number;
  expiresAt: number | null;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/**
 * API tokens, stored as SHA-256 hashes; the plaintext exists only when minted. A personal token
 * acts as its user (or service account) with that user's team roles, read fresh at least every
 * 5 s; a job's token acts for its job, in its job's team.
 */
export class TokenService {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /**
   * SHA-256 of the tokens seen lately: hashing cost about 6 µs per request, as much as the rest of
   * authentication. Bounded; the principal is still looked up (and expires) by hash, as before.
   */
  private readonly hashes = new Map<string, string>();
  /** Counts revocations and role changes, so a lookup that raced one never caches what it read. */
  private revocations = 0;

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  /**
   * Makes sure the admin user has exactly one admin token. A configured token replaces any
   * earlier one (a rotation after a leak must revoke the old token); without one, the stored token
   * stays, or a new one is generated and returned to be printed once.
   */
  async ensureAdmin(given?: string): Promise<AdminTokenResult> {
    const adminTokens = (db: Kysely<Tables>) =>
      db.selectFrom("api_tokens").where("name", "=", ADMIN_TOKEN_NAME).where("role", "=", "personal").where("user_id", "=", BOOTSTRAP_ADMIN_ID);
    if (given) {
      const hash = hashToken(given);
      const replaced = await this.db.transaction().execute(async (tx) => {
        const removed = await tx
          .deleteFrom("api_tokens")
          .where("name", "=", ADMIN_TOKEN_NAME)
          .where("role", "=", "personal")
          .where("user_id", "=", BOOTSTRAP_ADMIN_ID)
          .where("token_hash", "!=", hash)
          .executeTakeFirst();
        const existing = await tx.selectFrom("api_tokens").select("id").where("token_hash", "=", hash).executeTakeFirst();
        if (!existing) await this.insert(tx, { name: ADMIN_TOKEN_NAME, role: "personal", hash, userId: BOOTSTRAP_ADMIN_ID });
        return Number(removed.numDeletedRows);
      });
      if (replaced > 0) this.forgetAll();
      return { replaced };
    }
    if (await adminTokens(this.db).select("id").executeTakeFirst()) return { replaced: 0 };
    const token = newToken();
    await this.insert(this.db, { name: ADMIN_TOKEN_NAME, role: "personal", hash: hashToken(token), userId: BOOTSTRAP_ADMIN_ID });
    return { generated: token, replaced: 0 };
  }

  /**
   * A token for one job's process, valid until the job ends (`revokeForJob`) or expires. It acts
   * for the job's submitter, in the job's team.
   */
  async mintForJob(jobId: string, ttlMs: number): Promise<string> {
    const job = await this.db
      .selectFrom("jobs")
      .leftJoin("users", "users.name", "jobs.owner")
      .select(["jobs.team_id", "users.user_id"])
      .where("jobs.job_id", "=", jobId)
      .executeTakeFirst();
    const token = newToken();
    await this.insert(this.db, {
      name: `job:${jobId}`,
      role: "job",
      hash: hashToken(token),
      jobId,
      userId: job?.user_id ?? null,
      team: job?.team_id ?? null,
      expiresAt: this.clock.now() + ttlMs,
    });
    return token;
  }

  async revokeForJob(jobId: string): Promise<void> {
    await this.revoking(() => this.db.deleteFrom("api_tokens").where("job_id", "=", jobId).execute());
  }

  /** A personal token for a user or service account; the plaintext is returned once and never stored. */
  async createPersonal(input: { userId: string; name: string; team?: string | null; expiresAt?: number | null }): Promise<{ token: string; info: TokenInfo }> {
    const token = newToken();
    const id = await this.insert(this.db, {
      name: input.name,
      role: "personal",
      hash: hashToken(token),
      userId: input.userId,
      team: input.team ?? null,
      expiresAt: input.expiresAt ?? null,
    });
    return { token, info: await this.info(id) };
  }

  /** Personal tokens, of one user or (undefined) of everyone, newest first; expired ones included until revoked. */
  async listPersonal(userId: string | undefined): Promise<TokenInfo[]> {
    let query = this.db
      .selectFrom("api_tokens")
      .innerJoin("users", "users.user_id", "api_tokens.user_id")
      .select(["api_tokens.id", "api_tokens.name", "users.name as user", "api_tokens.team_id", "api_tokens.created_at", "api_tokens.expires_at"])
      .where("api_tokens.role", "=", "personal")
      .orderBy("api_tokens.created_at", "desc")
      .orderBy("api_tokens.id");
    if (userId !== undefined) query = query.where("api_tokens.user_id", "=", userId);
    const rows = await query.execute();
    return rows.map((r) => ({ id: r.id, name: r.name, user: r.user, team: r.team_id, createdAt: r.created_at, expiresAt: r.expires_at }));
  }

  /**
   * The user a personal token signs in as, and until when (its own expiry), for a browser session
   * opened with it (POST /auth/session); UNAUTHENTICATED for a job's token, an expired token or a
   * disabled user: a job's credential never becomes a browser session.
   */
  async personalTokenUser(token: string): Promise<{ userId: string; expiresAt: number | null }> {
    const row = await this.db
      .selectFrom("api_tokens")
      .innerJoin("users", "users.user_id", "api_tokens.user_id")
      .select(["api_tokens.user_id", "api_tokens.expires_at", "users.disabled_at"])
      .where("api_tokens.token_hash", "=", this.hashOf(token))
      .where("api_tokens.role", "=", "personal")
      .executeTakeFirst();
    if (!row?.user_id || row.disabled_at !== null || (row.expires_at !== null && row.expires_at < this.clock.now())) {
      throw new PlatformError("UNAUTHENTICATED", "this token does not sign in: it is unknown, expired, a job's, or its user is disabled; create a personal token with `paved tokens create` (or sign in with single sign-on)");
    }
    return { userId: row.user_id, expiresAt: row.expires_at };
  }

  /** One personal token's owner, for the policy (a user may revoke only their own); NOT_FOUND when there is none. */
  async ownerOf(tokenId: string): Promise<string> {
    const row = await this.db.selectFrom("api_tokens").select("user_id").where("id", "=", tokenId).where("role", "=", "personal").executeTakeFirst();
    if (!row?.user_id) throw missingToken(tokenId);
    return row.user_id;
  }

  async revoke(tokenId: string): Promise<void> {
    const deleted = await this.revoking(() => this.db.deleteFrom("api_tokens").where("id", "=", tokenId).where("role", "=", "personal").executeTakeFirst());
    if (Number(deleted.numDeletedRows) === 0) throw missingToken(tokenId);
  }

  /** Revokes every token of a user (a disabled user, a service account's rotation). */
  async revokeAllOf(userId: string): Promise<number> {
    const deleted = await this.revoking(() => this.db.deleteFrom("api_tokens").where("user_id", "=", userId).where("role", "=", "personal").executeTakeFirst());
    return Number(deleted.numDeletedRows);
  }

  /**
   * Forgets every resolved principal: called after a change of roles, memberships or users, so
   * the next request of every token reads them again (a user removed from a team loses it at once).
   */
  forgetAll(): void {
    this.revocations++;
    this.cache.clear();
    this.hashes.clear();
  }

  /** Resolves a bearer token to a principal, or throws UNAUTHENTICATED. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const match = header?.match(/^Bearer\s+(\S+)$/i);
    if (!match?.[1]) {
      throw new PlatformError("UNAUTHENTICATED", "missing bearer token; set PAVED_TOKEN (or MLFLOW_TRACKING_TOKEN), or run `paved login`");
    }
    const hash = this.hashOf(match[1]);
    const now = this.clock.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.principal;
    const revocations = this.revocations;
    const row = await this.db
      .selectFrom("api_tokens")
      .leftJoin("users", "users.user_id", "api_tokens.user_id")
      .leftJoin("jobs", "jobs.job_id", "api_tokens.job_id")
      // A job that runs a workspace's server: its token is the workspace's (it may also submit jobs).
      .leftJoin("workspaces", "workspaces.job_id", "api_tokens.job_id")
      .select([
        "workspaces.workspace_id",
        "api_tokens.name",
        "api_tokens.role",
        "api_tokens.job_id",
        "api_tokens.team_id",
        "api_tokens.expires_at",
        "api_tokens.user_id",
        "users.name as user_name",
        "users.kind as user_kind",
        "users.platform_admin",
        "users.disabled_at",
        "jobs.experiment_id",
        "jobs.owner",
      ])
      .where("api_tokens.token_hash", "=", hash)
      .executeTakeFirst();
    const invalid = () => new PlatformError("UNAUTHENTICATED", "invalid or expired token; check PAVED_TOKEN or run `paved login` again");
    if (!row || (row.expires_at !== null && row.expires_at < now)) {
      this.cache.delete(hash);
      throw invalid();
    }
    let principal: Principal;
    if (row.role === "job") {
      principal = {
        name: row.name,
        kind: "job",
        platformAdmin: false,
        teams: {},
        ...(row.user_id ? { userId: row.user_id } : {}),
        ...(row.team_id ? { team: row.team_id } : {}),
        ...(row.job_id ? { jobId: row.job_id } : {}),
        ...(row.experiment_id ? { experimentId: row.experiment_id } : {}),
        ...(row.owner ? { onBehalfOf: row.owner } : {}),
        ...(row.workspace_id ? { workspaceId: row.workspace_id } : {}),
      };
    } else {
      if (!row.user_id || !row.user_name || row.disabled_at !== null) throw invalid();
      principal = await this.userPrincipal({ userId: row.user_id, name: row.user_name, kind: row.user_kind, platformAdmin: row.platform_admin }, row.team_id);
    }
    if (revocations === this.revocations) this.cache.set(hash, { principal, until: Math.min(now + CACHE_MS, row.expires_at ?? Infinity) });
    return principal;
  }

  /**
   * The principal of a user with their current roles, for credentials other than a token (a
   * workspace's browser cookie); undefined when the user is gone or disabled.
   */
  async principalOf(userId: string): Promise<Principal | undefined> {
    const user = await this.db.selectFrom("users").select(["user_id", "name", "kind", "platform_admin", "disabled_at"]).where("user_id", "=", userId).executeTakeFirst();
    if (!user || user.disabled_at !== null) return undefined;
    return this.userPrincipal({ userId: user.user_id, name: user.name, kind: user.kind, platformAdmin: user.platform_admin }, null);
  }

  private async userPrincipal(user: { userId: string; name: string; kind: string | null; platformAdmin: number | null }, tokenTeam: string | null): Promise<Principal> {
    const memberships = await this.db.selectFrom("team_members").select(["team_id", "role"]).where("user_id", "=", user.userId).execute();
    const teams = Object.fromEntries(memberships.map((m) => [m.team_id, m.role as TeamRole]));
    // Without a team on the token, a member of exactly one team creates there.
    const team = tokenTeam ?? (memberships.length === 1 ? memberships[0]!.team_id : undefined);
    return {
      name: user.name,
      kind: user.kind === "service" ? "service" : "user",
      userId: user.userId,
      platformAdmin: user.platformAdmin === 1,
      teams,
      ...(team ? { team } : {}),
    };
  }

  /** Runs a deletion of tokens so that no lookup racing it caches what it removes. */
  private async revoking<T>(remove: () => Promise<T>): Promise<T> {
    // Bumped before the delete: a lookup that read the row before it was deleted sees the change
    // and does not put the revoked token back into the cache.
    this.revocations++;
    const result = await remove();
    this.forgetAll();
    return result;
  }

  private async info(id: string): Promise<TokenInfo> {
    const [info] = (await this.listPersonal(undefined)).filter((t) => t.id === id);
    if (!info) throw missingToken(id);
    return info;
  }

  private hashOf(token: string): string {
    let hash = this.hashes.get(token);
    if (hash === undefined) {
      if (this.hashes.size >= MAX_REMEMBERED_HASHES) this.hashes.clear();
      hash = hashToken(token);
      this.hashes.set(token, hash);
    }
    return hash;
  }

  private async insert(
    db: Kysely<Tables>,
    t: { name: string; role: "personal" | "job"; hash: string; userId?: string | null; jobId?: string | null; team?: string | null; expiresAt?: number | null },
  ): Promise<string> {
    const id = this.ids.prefixed("tok");
    await db
      .insertInto("api_tokens")
      .values({
        id,
        name: t.name,
        role: t.role,
        token_hash: t.hash,
        user_id: t.userId ?? null,
        job_id: t.jobId ?? null,
        team_id: t.team ?? null,
        created_at: this.clock.now(),
        expires_at: t.expiresAt ?? null,
      })
      .execute();
    return id;
  }
}

function missingToken(id: string): PlatformError {
  return notFound(`token '${id}' does not exist; list yours with \`paved tokens ls\``);
}
