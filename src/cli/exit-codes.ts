import type { ErrorCode } from "../core/index.ts";

/** Exit codes derived from error codes, so scripts can branch on them. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_INPUT: 2,
  NOT_FOUND: 3,
  ALREADY_EXISTS: 4,
  CONFLICT: 4,
  UNAUTHENTICATED: 5,
  FORBIDDEN: 6,
  QUOTA_EXCEEDED: 7,
  PAYLOAD_TOO_LARGE: 2,
  UNSUPPORTED: 8,
  GATE_FAILED: 9,
  CONFIG: 10,
  UNAVAILABLE: 11,
  INTERNAL: 1,
};

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODES[code];
}

/** `paved train --follow` when the job ends FAILED or CANCELLED (distinct from every error code). */
export const EXIT_JOB_FAILED = 12;
/** Command-line usage errors found by the argument parser (unknown flag, missing argument). */
export const EXIT_USAGE = 2;
