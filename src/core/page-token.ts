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

/** A list's position for keyset paging, newest first: the last row's creation time and id. */
export interface NewestFirstPosition {
  createdAt: number;
  id: string;
}

/** The token of a page's last row in a newest-first list (opaque to clients; stable while rows are added). */
export function encodePositionToken(position: NewestFirstPosition): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString("base64url");
}

/** The position a newest-first list's token stands for; INVALID_INPUT for a token we did not issue. */
export function decodePositionToken(token: string): NewestFirstPosition {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown[];
    if (typeof createdAt === "number" && typeof id === "string") return { createdAt, id };
  } catch {
    // answered below
  }
  throw invalidInput("pageToken is not one this server handed out; pass the nextPageToken of the previous page, or leave it out for the first page");
}

/** The token of a page's last row in a list ordered by a unique name, ascending (opaque to clients; stable while rows are added). */
export function encodeNameToken(name: string): string {
  return Buffer.from(JSON.stringify({ after: name })).toString("base64url");
}

/** The name a by-name list's token stands for; INVALID_INPUT for a token we did not issue. */
export function decodeNameToken(token: string): string {
  try {
    const { after } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { after?: unknown };
    if (typeof after === "string") return after;
  } catch {
    // answered below
  }
  throw invalidInput("pageToken is not one this server handed out; pass the nextPageToken of the previous page, or leave it out for the first page");
}

/** The token of a page's last row in a list ordered by a unique whole number, highest first (a dataset's versions; opaque to clients; stable while higher numbers are added). */
export function encodeNumberToken(before: number): string {
  return Buffer.from(JSON.stringify({ before })).toString("base64url");
}

/** The number a highest-first list's token stands for; INVALID_INPUT for a token we did not issue. */
export function decodeNumberToken(token: string): number {
  try {
    const { before } = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { before?: unknown };
    if (typeof before === "number" && Number.isSafeInteger(before)) return before;
  } catch {
    // answered below
  }
  throw invalidInput("pageToken is not one this server handed out; pass the nextPageToken of the previous page, or leave it out for the first page");
}

/**
 * A page from rows read as `limit + 1`: the first `limit`, and the next page's token (made from the
 * page's last row) when the extra row says more remain.
 */
export function cutPage<T>(rows: T[], limit: number, tokenOf: (last: T) => string): { page: T[]; nextPageToken?: string } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return rows.length > limit && last !== undefined ? { page, nextPageToken: tokenOf(last) } : { page };
}
