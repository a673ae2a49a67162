import { z } from "zod";

/** A secret's name: what specs name it by (e.g. `warehouse-password`). */
export const SECRET_NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
/** Largest value a secret may hold, in bytes of UTF-8 (a password, a key pair, a small certificate). */
export const MAX_SECRET_BYTES = 64 * 1024;
/** Most secrets a team may have. */
export const MAX_SECRETS_PER_TEAM = 200;

export const SecretName = z
  .string()
  .regex(SECRET_NAME, "a secret's name uses lower-case letters, digits, '.', '_' and '-' (at most 63, starting and ending with a letter or digit), e.g. warehouse-password");

export const SecretNameParams = z.strictObject({ name: SecretName });

export const SecretTeamQuery = z.strictObject({ team: z.string().min(1).max(63).optional() });

/** PUT /api/v1/secrets/:name. The value never comes back, in any answer, log or audit record. */
export const PutSecretBody = z.strictObject({
  /** The value; at most 64 KiB of UTF-8. */
  value: z
    .string()
    .min(1, "a secret's value may not be empty")
    .refine((v) => Buffer.byteLength(v, "utf8") <= MAX_SECRET_BYTES, `a secret's value is at most ${MAX_SECRET_BYTES} bytes; keep larger things in a dataset or an artifact`),
  /** The team it belongs to; default: the caller's only team. */
  team: z.string().min(1).max(63).optional(),
});
export type PutSecretBody = z.output<typeof PutSecretBody>;

/** What anyone sees of a secret: its name and history, never its value. */
export const SecretView = z.object({
  team: z.string(),
  name: z.string(),
  createdBy: z.string(),
  createdAt: z.number(),
  updatedBy: z.string(),
  updatedAt: z.number(),
});
export type SecretView = z.output<typeof SecretView>;
