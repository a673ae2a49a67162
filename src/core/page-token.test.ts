import { describe, expect, it } from "vitest";
import { cutPage, decodeNameToken, decodeNumberToken, decodePageToken, decodePositionToken, encodeNameToken, encodeNumberToken, encodePageToken, encodePositionToken } from "./page-token.ts";

describe("page tokens", () => {
  it("give back what they were made from", () => {
    expect(decodePageToken(encodePageToken(42))).toBe(42);
    expect(decodePageToken(undefined)).toBe(0);
    expect(decodePositionToken(encodePositionToken({ createdAt: 7, id: "d-1" }))).toEqual({ createdAt: 7, id: "d-1" });
    for (const name of ["churn", "", "a/b é 🙂"]) expect(decodeNameToken(encodeNameToken(name))).toBe(name);
    for (const n of [1, 42, 0]) expect(decodeNumberToken(encodeNumberToken(n))).toBe(n);
  });

  it("refuse a token of another kind or garbage with INVALID_INPUT", () => {
    const garbage = ["x", Buffer.from("[1,2]").toString("base64url"), Buffer.from('{"after":3}').toString("base64url"), encodePageToken(1)];
    for (const token of garbage) expect(() => decodeNameToken(token)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => decodePositionToken(encodeNameToken("a"))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => decodePageToken(encodeNameToken("a"))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    const notNumbers = ["x", encodeNameToken("a"), encodePositionToken({ createdAt: 7, id: "d-1" }), encodePageToken(3), Buffer.from('{"before":"3"}').toString("base64url"), Buffer.from('{"before":1.5}').toString("base64url"), Buffer.from("null").toString("base64url")];
    for (const token of notNumbers) expect(() => decodeNumberToken(token)).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => decodePositionToken(encodeNumberToken(3))).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });

  it("cut a page from limit + 1 rows, with a token only when the extra row came", () => {
    expect(cutPage([1, 2, 3], 2, (last) => `after ${last}`)).toEqual({ page: [1, 2], nextPageToken: "after 2" });
    expect(cutPage([1, 2], 2, (last) => `after ${last}`)).toEqual({ page: [1, 2] });
    expect(cutPage([], 2, () => "never")).toEqual({ page: [] });
  });
});
