import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { closeSync, constants, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { PlatformError } from "../../core/index.ts";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** The server's key for team secrets: AES-256-GCM, held in a file, never in the database. */
export interface SecretKey {
  /** Names the key without revealing it (a digest), stored beside each value. */
  readonly id: string;
  encrypt(plaintext: string, associated: string): string;
  /** Undefined when the value was not made under this key with this associated data (or was altered). */
  decrypt(sealed: string, associated: string): string | undefined;
}

/** A key from its 32 bytes. */
export function secretKeyFrom(bytes: Buffer): SecretKey {
  if (bytes.length !== KEY_BYTES) throw new PlatformError("CONFIG", `a secrets key is ${KEY_BYTES} bytes, not ${bytes.length}`);
  const key = Buffer.from(bytes);
  const id = createHash("sha256").update("paved secrets key\0").update(key).digest("hex").slice(0, 16);
  return {
    id,
    encrypt(plaintext, associated) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.from(associated, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return Buffer.concat([nonce, cipher.getAuthTag(), body]).toString("base64");
    },
    decrypt(sealed, associated) {
      const raw = Buffer.from(sealed, "base64");
      if (raw.length < NONCE_BYTES + TAG_BYTES) return undefined;
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, NONCE_BYTES));
        decipher.setAAD(Buffer.from(associated, "utf8"));
        decipher.setAuthTag(raw.subarray(NONCE_BYTES, NONCE_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The key in `file`: 32 raw bytes, or their base64 on one line (as a Kubernetes secret mounts it).
 * A missing file is created with 32 random bytes, mode 0600, and fsynced (a key lost after its first
 * secret was written would lose them all). A file others may read is refused.
 */
export function loadSecretKey(file: string): SecretKey {
  let created = false;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // O_EXCL: never overwrites a key another process just made.
    const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, randomBytes(KEY_BYTES));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
      throw new PlatformError("CONFIG", `cannot create the secrets key file '${file}' (${(error as NodeJS.ErrnoException).code ?? "error"}); make its folder writable by the server, or set secrets.keyFile to a file it can create`);
    }
  }
  const stat = statSync(file);
  // Others may not touch it, nor its group write it (a group may read it: a Kubernetes secret mounted with fsGroup is 0440).
  if (!created && (stat.mode & 0o027) !== 0) {
    throw new PlatformError("CONFIG", `the secrets key file '${file}' may be read or changed by other users (mode ${(stat.mode & 0o777).toString(8)}); run \`chmod 600 ${file}\``);
  }
  const content = readFileSync(file);
  if (content.length === KEY_BYTES) return secretKeyFrom(content);
  const text = content.toString("utf8").trim();
  const decoded = /^[A-Za-z0-9+/]{43}=$/.test(text) ? Buffer.from(text, "base64") : undefined;
  if (decoded?.length === KEY_BYTES) return secretKeyFrom(decoded);
  throw new PlatformError("CONFIG", `the secrets key file '${file}' holds neither 32 bytes nor their base64; restore the key file the secrets were written with (or, on a new server, remove it so that one is made)`);
}
