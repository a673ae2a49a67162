import { describe, expect, it } from "vitest";
import { isPlatformError } from "../../../core/index.ts";
import { assertSingleSelect } from "./select-check.ts";

function refused(query: string): string | undefined {
  try {
    assertSingleSelect(query);
  } catch (error) {
    return isPlatformError(error) ? error.code : "not a PlatformError";
  }
  return undefined;
}

describe("a connector's query is one SELECT", () => {
  it("accepts SELECT and WITH … SELECT, with strings, names and comments holding anything", () => {
    for (const ok of [
      "select 1",
      "SELECT * FROM t WHERE a = 1;",
      "  -- a comment; delete from t\n select a, b from t",
      "/* drop table t; /* nested */ */ select 1",
      "with x as (select 1 as a) select * from x",
      "select 'a;b'' drop table t' as s, \"update\" from t",
      "select E'it\\'s; delete' as s",
      "select $$ ; insert into t $$ as body, $tag$ ; $tag$",
      "(select 1) union (select 2)",
      "select 1 ;  -- trailing comment",
      "select a from t where ts > now() - interval '1 day' order by a limit 10",
      "select \"into\" from t",
    ]) {
      expect(refused(ok), ok).toBeUndefined();
    }
  });

  it("refuses other statements, several statements, writes hidden in WITH, SELECT INTO and locks", () => {
    for (const bad of [
      "delete from t",
      "insert into t values (1)",
      "select 1; select 2",
      "select 1; delete from t",
      "with d as (delete from t returning *) select * from d",
      "select * into copy_of_t from t",
      "select * from t for update",
      "select set_config('statement_timeout', '0', false)",
      "select pg_sleep(1000)",
      "select pg_read_file('/etc/passwd')",
      "copy t to '/tmp/x'",
      "explain analyze delete from t",
      "",
      "  -- only a comment",
      "select 'unterminated",
      "select /* unterminated",
      "select $x$ unterminated",
      "values (1)",
      "table t",
      "select 1 /* ; */ ; update t set a = 1",
      "SeLeCt 1; CoPy t FROM PROGRAM 'id'",
    ]) {
      expect(refused(bad), bad).toBe("INVALID_INPUT");
    }
  });

  it("refuses a query longer than the bound, and scans a long one in one pass", () => {
    expect(refused(`select ${"1,".repeat(60_000)}1`)).toBe("INVALID_INPUT");
    // Nested comment openers and quotes that a backtracking matcher would chew on: linear here.
    expect(refused(`select 1 ${"/*".repeat(20_000)}`)).toBe("INVALID_INPUT");
    expect(refused(`select '${"''".repeat(40_000)}'`)).toBeUndefined();
  });
});
