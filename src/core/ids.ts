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

export const randomIds: IdGenerator = {
  hex32: () => randomBytes(16).toString("hex"),
  // Creation time in ms times 1000 plus a random part: sortable, and well inside int64 (which
  // some MLflow clients assume experiment ids fit in).
  numeric: () => String(Date.now() * 1000 + randomInt(0, 1000)),
  prefixed: (prefix) => `${prefix}-${randomBytes(5).toString("hex")}`,
};
