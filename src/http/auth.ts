import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { PlatformError, type Clock, type IdGenerator, type Principal } from "../core/index.ts";
import type { Tables } from "../storage/index.ts";

export const TOKEN_PREFIX = "pvd_";
const MAX_REMEMBERED_HASHES = 1024;

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

  constructor(
    private readonly db: Kysely<Tables>,
    private readonly clock: Clock,
    private readonly ids: IdGenerator,
  ) {}

  /**
   * Makes sure an admin token exists. Returns the plaintext when it generated one (print it once),
   * undefined when one was given or already stored.
   */
  async ensureAdmin(given?: string): Promise<string | undefined> {
    if (given) {
      const hash = hashToken(given);
      const existing = await this.db.selectFrom("api_tokens").select("id").where("token_hash", "=", hash).executeTakeFirst();
      if (!existing) await this.insert("admin", "admin", hash, null, null);
      return undefined;
    }
    const admin = await this.db.selectFrom("api_tokens").select("id").where("role", "=", "admin").executeTakeFirst();
    if (admin) return undefined;
    const token = newToken();
    await this.insert("admin", "admin", hashToken(token), null, null);
    return token;
  }

  /** A token for one job's process, valid until the job ends (`revokeForJob`) or expires. */
  async mintForJob(jobId: string, ttlMs: number): Promise<string> {
    const token = newToken();
    await this.insert(`job:${jobId}`, "job", hashToken(token), jobId, this.clock.now() + ttlMs);
    return token;
  }

  async revokeForJob(jobId: string): Promise<void> {
    await this.db.deleteFrom("api_tokens").where("job_id", "=", jobId).execute();
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
    const row = await this.db.selectFrom("api_tokens").selectAll().where("token_hash", "=", hash).executeTakeFirst();
    if (!row || (row.expires_at !== null && row.expires_at < now)) {
      this.cache.delete(hash);
      throw new PlatformError("UNAUTHENTICATED", "invalid or expired token; check PAVED_TOKEN or run `paved login` again");
    }
    const principal: Principal = { name: row.name, role: row.role as Principal["role"], ...(row.job_id ? { jobId: row.job_id } : {}) };
    this.cache.set(hash, { principal, until: Math.min(now + 5000, row.expires_at ?? Infinity) });
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

  private async insert(name: string, role: string, hash: string, jobId: string | null, expiresAt: number | null): Promise<void> {
    await this.db
      .insertInto("api_tokens")
      .values({ id: this.ids.prefixed("tok"), name, role, token_hash: hash, job_id: jobId, created_at: this.clock.now(), expires_at: expiresAt })
      .execute();
  }
}
