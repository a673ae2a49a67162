/** Stable error codes. `http/` maps them to HTTP statuses, the CLI to exit codes. */
export const ERROR_CODES = [
  "INVALID_INPUT",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "CONFLICT",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "QUOTA_EXCEEDED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED",
  "GATE_FAILED",
  "CONFIG",
  "UNAVAILABLE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The one error family of the platform. `message` says what was wrong and ends with the fix;
 * `details` carries structured data (e.g. the list of valid choices).
 */
export class PlatformError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "PlatformError";
  }
}

export const invalidInput = (message: string, details?: Record<string, unknown>) =>
  new PlatformError("INVALID_INPUT", message, details);
export const notFound = (message: string, details?: Record<string, unknown>) =>
  new PlatformError("NOT_FOUND", message, details);
export const alreadyExists = (message: string, details?: Record<string, unknown>) =>
  new PlatformError("ALREADY_EXISTS", message, details);
export const conflict = (message: string, details?: Record<string, unknown>) =>
  new PlatformError("CONFLICT", message, details);

export function isPlatformError(e: unknown): e is PlatformError {
  return e instanceof PlatformError;
}
