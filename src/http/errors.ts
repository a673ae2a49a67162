import { isPlatformError, type ErrorCode } from "../core/index.ts";

/** The one map from error code to HTTP status. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  QUOTA_EXCEEDED: 429,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED: 400,
  GATE_FAILED: 412,
  CONFIG: 500,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** MLflow's `error_code` for each Paved code (what the mlflow client branches on). */
export const MLFLOW_ERROR_CODE: Record<ErrorCode, string> = {
  INVALID_INPUT: "INVALID_PARAMETER_VALUE",
  NOT_FOUND: "RESOURCE_DOES_NOT_EXIST",
  ALREADY_EXISTS: "RESOURCE_ALREADY_EXISTS",
  CONFLICT: "INVALID_STATE",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  FORBIDDEN: "PERMISSION_DENIED",
  QUOTA_EXCEEDED: "RESOURCE_EXHAUSTED",
  PAYLOAD_TOO_LARGE: "INVALID_PARAMETER_VALUE",
  UNSUPPORTED: "FEATURE_DISABLED",
  GATE_FAILED: "INVALID_STATE",
  CONFIG: "INTERNAL_ERROR",
  UNAVAILABLE: "TEMPORARILY_UNAVAILABLE",
  INTERNAL: "INTERNAL_ERROR",
};

// Fastify's own errors (body parsing, limits, routing) translated into Paved codes.
const FRAMEWORK_CODES: Record<string, { code: ErrorCode; status: number; message: string }> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: "INVALID_INPUT", status: 415, message: "unsupported Content-Type; send application/json" },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: "PAYLOAD_TOO_LARGE", status: 413, message: "request body is too large; send smaller batches" },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: "INVALID_INPUT", status: 400, message: "empty JSON body; send a JSON object" },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: "INVALID_INPUT", status: 400, message: "body is not valid JSON" },
};

export interface ErrorBody {
  status: number;
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** Turns anything thrown into a status and a body that never leaks a stack or a path. */
export function toErrorBody(error: unknown): ErrorBody {
  if (isPlatformError(error)) {
    return { status: HTTP_STATUS[error.code], code: error.code, message: error.message, details: error.details };
  }
  const e = error as { code?: string; statusCode?: number; message?: string };
  const known = e.code ? FRAMEWORK_CODES[e.code] : undefined;
  if (known) return { status: known.status, code: known.code, message: known.message };
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, code: "INVALID_INPUT", message: e.message ?? "bad request" };
  }
  return { status: 500, code: "INTERNAL", message: "internal error; the server log has the details" };
}
