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

// The last numeric id this process made: the next is above it, so that ids made in one
// millisecond (20 jobs submitted at once create 20 experiments) never collide here.
let lastNumeric = 0;

export const randomIds: IdGenerator = {
  hex32: () => randomHex(16),
  // Creation time in ms times 1000 plus a random part (two control planes on one database rarely
  // meet; the store retries when they do): sortable, unique within this process, and well inside
  // int64 (which some MLflow clients assume experiment ids fit in) and a double's exact integers.
  numeric: () => String((lastNumeric = Math.max(lastNumeric + 1, Date.now() * 1000 + randomInt(0, 1000)))),
  prefixed: (prefix) => `${prefix}-${randomHex(5)}`,
};
