import { describe, expect, it } from "vitest";
import { decodeNameToken, decodePageToken, decodePositionToken, encodeNameToken, encodePageToken, encodePositionToken } from "./page-token.ts";

describe("page tokens", () => {
  it("give back what they were made from", () => {
    expect(decodePageToken(encodePageToken(42))).toBe(42);
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePositionToken(encodePositionToken({ createdAt: 7, id: "d-1" }))).toEqual({ createdAt: 7, id: "d-1" });
    for (const name of ["churn", "", "a/b é 🙂"]) expect(decodeNameToken(encodeNameToken(name))).toBe(name);
  });

  it("refuse a token of another kind or garbage with INVALID_INPUT", () => {
    const garbage = ["x", Buffer.from("[1,2]").toString("base64url"), Buffer.from('{"after":3}').toString("base64url"), encodePageToken(1)];
    for (const token of garbage) expect(() => decodeNameToken(token)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => decodePositionToken(encodeNameToken("a"))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => decodePageToken(encodeNameToken("a"))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});
