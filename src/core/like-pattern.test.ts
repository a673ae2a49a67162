import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileLike, likeToGlob } from "./like-pattern.ts";

// [pattern, text, LIKE, ILIKE]; `unicode` rows fold non-ASCII case, which PostgreSQL and SQLite
// only do under a Unicode locale, so they are compared with the table alone.
const CASES: [string, string, boolean, boolean, "unicode"?][] = [
  ["", "", true, true],
  ["", "a", false, false],
  ["%", "", true, true],
  ["%", "anything at all", true, true],
  ["%%", "x", true, true],
  ["_", "", false, false],
  ["_", "a", true, true],
  ["_", "ab", false, false],
  ["churn%", "churn-v2", true, true],
  ["churn%", "Churn-v2", false, true],
  ["%v2", "churn-v2", true, true],
  ["%V2", "churn-v2", false, true],
  ["%rn-%", "churn-v2", true, true],
  ["c_urn%", "churn", true, true],
  ["c_urn", "chhurn", false, false],
  ["%a%b%c%", "xaybzc", true, true],
  ["%a%b%c%", "xcybza", false, false],
  ["a%a", "a", false, false],
  ["a%a", "aa", true, true],
  ["ab%ba", "aba", false, false],
  ["ab%ba", "abba", true, true],
  ["%aab%", "aaab", true, true],
  ["%a_b%", "xaxxb", false, false],
  ["%a_b%", "xaxb", true, true],
  ["%a%a%a%b", "a".repeat(50), false, false],
  ["%a%a%a%b", `${"a".repeat(50)}b`, true, true],
  ["100\\%", "100%", true, true],
  ["100\\%", "1000", false, false],
  ["a\\_c", "abc", false, false],
  ["a\\_c", "a_c", true, true],
  ["a\\\\c", "a\\c", true, true],
  ["a\\bc", "abc", true, true],
  ["[ab]*?", "[ab]*?", true, true],
  ["[ab]%", "a", false, false],
  ["line%end", "line\nin the middle\nend", true, true],
  ["%.%", "v1.2", true, true],
  ["%.%", "v12", false, false],
  ["x_y", "x😀y", true, true],
  ["%😀%", "a😀b", true, true],
  ["%ÉTÉ%", "un été", false, true, "unicode"],
  ["é_é", "ÉtÉ", false, true, "unicode"],
  [`%${"_".repeat(40)}x%`, `${"y".repeat(100)}x`, true, true],
  [`%${"_".repeat(40)}x%`, `${"y".repeat(30)}x`, false, false],
  [`%${"ab".repeat(20)}c%`, `${"ab".repeat(200)}c`, true, true],
  [`%${"ab".repeat(20)}c%`, `${"ab".repeat(200)}`, false, false],
];

describe("compileLike", () => {
  it.each(CASES)("'%s' against '%s': LIKE %s, ILIKE %s", (pattern, text, like, ilike) => {
    expect(compileLike(pattern)(text)).toBe(like);
    expect(compileLike(pattern, { caseInsensitive: true })(text)).toBe(ilike);
  });

  it("matches the review's pattern against 1,000 and 100,000 characters without backtracking", () => {
    // A backtracking regex (037a407) took 76 s for the 1,000-character case.
    for (const n of [1_000, 100_000]) {
      const text = "a".repeat(n);
      expect(compileLike("%a%a%a%b")(text)).toBe(false);
      expect(compileLike("%a%a%a%b")(`${text}b`)).toBe(true);
      expect(compileLike(`${"%a".repeat(30)}%b`, { caseInsensitive: true })(text)).toBe(false);
      expect(compileLike(`%${"a_".repeat(100)}b%`)(text)).toBe(false);
    }
  });

  it("refuses a pattern that ends with a lone escape character", () => {
    expect(() => compileLike("abc\\")).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
    expect(() => likeToGlob("abc\\")).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });
});

describe("the databases agree with the table", () => {
  const sqlite = new BetterSqlite3(":memory:");
  let postgres: pg.Client | undefined;
  beforeAll(async () => {
    if (!process.env.PAVED_TEST_DATABASE_URL) return;
    postgres = new pg.Client({ connectionString: process.env.PAVED_TEST_DATABASE_URL });
    await postgres.connect();
  });
  afterAll(async () => {
    sqlite.close();
    await postgres?.end();
  });

  it("SQLite: GLOB for LIKE, lower() LIKE lower() ESCAPE '\\' for ILIKE (what run search sends)", () => {
    const glob = sqlite.prepare("select ? glob ?").pluck();
    const ilike = sqlite.prepare("select lower(?) like lower(?) escape '\\'").pluck();
    for (const [pattern, text, like, caseless, unicode] of CASES) {
      expect([pattern, text, glob.get(text, likeToGlob(pattern)) === 1]).toEqual([pattern, text, like]);
      if (!unicode) expect([pattern, text, ilike.get(text, pattern) === 1]).toEqual([pattern, text, caseless]);
    }
  });

  it("PostgreSQL: LIKE and ILIKE", async (ctx) => {
    if (!postgres) return ctx.skip();
    for (const [pattern, text, like, caseless, unicode] of CASES) {
      const { rows } = await postgres.query<{ like: boolean; ilike: boolean }>("select $1::text like $2 as like, $1::text ilike $2 as ilike", [text, pattern]);
      expect([pattern, text, rows[0]!.like]).toEqual([pattern, text, like]);
      if (!unicode) expect([pattern, text, rows[0]!.ilike]).toEqual([pattern, text, caseless]);
    }
  });
});
