import { invalidInput } from "./errors.ts";

/** An opaque paging token (MLflow's `page_token`) for an offset into a sorted result. */
export function encodePageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64url");
}

/** The offset a token stands for (0 without one); INVALID_INPUT for a token we did not issue. */
export function decodePageToken(token: string | undefined): number {
  if (!token) return 0;
  try {
    const { offset } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { offset?: unknown };
    if (typeof offset === "number" && Number.isSafeInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through to the error below
  }
  throw invalidInput("invalid page_token; pass the next_page_token of the previous response unchanged");
}
