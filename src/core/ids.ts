import { randomBytes, randomInt } from "node:crypto";

/** Generates identifiers; injected so tests can make them predictable. */
export interface IdGenerator {
  /** 32 lowercase hex characters, the shape MLflow uses for run ids. */
  hex32(): string;
  /** A positive decimal id as a string that fits int64 (experiment ids, like MLflow 3's). */
  numeric(): string;
  /** A short, readable id with a prefix, e.g. `job-7f3a9c2e`. */
  prefixed(prefix: string): string;
}

// randomBytes(16) costs about 16 µs a call on Node 20 (a fresh Buffer and a trip into OpenSSL),
// and serving makes an id per inference request: ids come from a pool refilled 4 KiB at a time,
// as crypto.randomUUID does.
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const hex = pool.toString("hex", poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

export const randomIds: IdGenerator = {
  hex32: () => randomHex(16),
  // Creation time in ms times 1000 plus a random part: sortable, and well inside int64 (which
  // some MLflow clients assume experiment ids fit in).
  numeric: () => String(Date.now() * 1000 + randomInt(0, 1000)),
  prefixed: (prefix) => `${prefix}-${randomHex(5)}`,
};
