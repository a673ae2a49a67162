import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { PlatformError, type Clock, type IdGenerator, type Principal } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";

export const TOKEN_PREFIX = "pvd_";
const MAX_REMEMBERED_HASHES = 1024;
/** How long a resolved token is trusted without asking the database again. */
const CACHE_MS = 5000;
/** The name of the admin token that `paved up` generates or takes from configuration. */
const ADMIN_NAME = "admin";

export interface AdminTokenResult {
  /** Set when this start generated the admin token: print it once. */
  generated?: string;
  /** How many earlier admin tokens the configured one replaced (revoked). */
  replaced: number;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

/** API tokens, stored as SHA-256 hashes; the plaintext exists only when minted. */
export class TokenService {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /**
   * SHA-256 of the tokens seen lately: hashing cost about 6 µs per request, as much as the rest of
   * authentication. Bounded; the principal is still looked up (and expires) by hash, as before.
   */
  private readonly hashes = new Map<string, string>();
  /** Counts revocations, so a lookup that raced one never caches what it read. */
  private revocations = 0;

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  /**
   * Makes sure exactly one admin token is valid. A configured token replaces any earlier one
   * (a rotation after a leak must revoke the old token); without one, the stored token stays, or
   * a new one is generated and returned to be printed once.
   */
  async ensureAdmin(given?: string): Promise<AdminTokenResult> {
    if (given) {
      const hash = hashToken(given);
      const replaced = await this.db.transaction().execute(async (tx) => {
        const removed = await tx
          .deleteFrom("api_tokens")
          .where("name", "=", ADMIN_NAME)
          .where("role", "=", "admin")
          .where("job_id", "is", null)
          .where("token_hash", "!=", hash)
          .executeTakeFirst();
        const existing = await tx.selectFrom("api_tokens").select("id").where("token_hash", "=", hash).executeTakeFirst();
        if (!existing) await this.insert(tx, ADMIN_NAME, "admin", hash, null, null);
        return Number(removed.numDeletedRows);
      });
      if (replaced > 0) this.forgetAll();
      return { replaced };
    }
    const admin = await this.db.selectFrom("api_tokens").select("id").where("role", "=", "admin").executeTakeFirst();
    if (admin) return { replaced: 0 };
    const token = newToken();
    await this.insert(this.db, ADMIN_NAME, "admin", hashToken(token), null, null);
    return { generated: token, replaced: 0 };
  }

  /** A token for one job's process, valid until the job ends (`revokeForJob`) or expires. */
  async mintForJob(jobId: string, ttlMs: number): Promise<string> {
    const token = newToken();
    await this.insert(this.db, `job:${jobId}`, "job", hashToken(token), jobId, this.clock.now() + ttlMs);
    return token;
  }

  async revokeForJob(jobId: string): Promise<void> {
    // Bumped before the delete: a lookup that read the row before it was deleted sees the change
    // and does not put the revoked token back into the cache.
    this.revocations++;
    await this.db.deleteFrom("api_tokens").where("job_id", "=", jobId).execute();
    this.revocations++;
    const revoked = new Set<string>();
    for (const [key, entry] of this.cache) {
      if (entry.principal.jobId !== jobId) continue;
      this.cache.delete(key);
      revoked.add(key);
    }
    // A revoked token's plaintext is not kept around.
    for (const [token, hash] of this.hashes) if (revoked.has(hash)) this.hashes.delete(token);
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
      .leftJoin("jobs", "jobs.job_id", "api_tokens.job_id")
      .select(["api_tokens.name", "api_tokens.role", "api_tokens.job_id", "api_tokens.expires_at", "jobs.experiment_id", "jobs.owner"])
      .where("api_tokens.token_hash", "=", hash)
      .executeTakeFirst();
    if (!row || (row.expires_at !== null && row.expires_at < now)) {
      this.cache.delete(hash);
      throw new PlatformError("UNAUTHENTICATED", "invalid or expired token; check PAVED_TOKEN or run `paved login` again");
    }
    const principal: Principal = {
      name: row.name,
      role: row.role as Principal["role"],
      ...(row.job_id ? { jobId: row.job_id } : {}),
      ...(row.experiment_id ? { experimentId: row.experiment_id } : {}),
      ...(row.owner ? { onBehalfOf: row.owner } : {}),
    };
    if (revocations === this.revocations) this.cache.set(hash, { principal, until: Math.min(now + CACHE_MS, row.expires_at ?? Infinity) });
    return principal;
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

  private forgetAll(): void {
    this.cache.clear();
    this.hashes.clear();
  }

  private async insert(db: Kysely<Tables>, name: string, role: string, hash: string, jobId: string | null, expiresAt: number | null): Promise<void> {
    await db
      .insertInto("api_tokens")
      .values({ id: this.ids.prefixed("tok"), name, role, token_hash: hash, job_id: jobId, created_at: this.clock.now(), expires_at: expiresAt })
      .execute();
  }
}
