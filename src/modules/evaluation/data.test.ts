import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkTableHeader, parseCsv, readTable, readTableOffThread } from "./data.ts";

const dir = mkdtempSync(join(tmpdir(), "paved-csv-"));
let files = 0;
function csv(text: string): string {
  const path = join(dir, `t${files++}.csv`);
  writeFileSync(path, text);
  return path;
}
const opts = { label: "label", sensitive: ["group"], what: "evaluation data" };

function rejection(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("CSV (RFC 4180)", () => {
  it("reads quoted fields with commas, doubled quotes, CRLF and a line break inside a field", () => {
    const records = parseCsv('a,b,c\r\n"x, y","say ""hi""",1\r\n"two\r\nlines",  "kept "  ,2\n', "t");
    expect(records).toEqual([
      { fields: ["a", "b", "c"], line: 1 },
      { fields: ["x, y", 'say "hi"', "1"], line: 2 },
      { fields: ["two\r\nlines", "kept ", "2"], line: 3 },
    ]);
  });

  it("keeps unquoted input working: trims, skips blank lines, ignores a byte-order mark, no final newline", () => {
    expect(parseCsv("\ufeffa, b\n\n 1 ,2\n   \n3,4", "t")).toEqual([
      { fields: ["a", "b"], line: 1 },
      { fields: ["1", "2"], line: 3 },
      { fields: ["3", "4"], line: 5 },
    ]);
    expect(parseCsv('a,""\n,\n', "t").map((r) => r.fields)).toEqual([["a", ""], ["", ""]]);
  });

  it("names the line of an unterminated quote and of text after a closing quote", () => {
    const open = rejection(() => parseCsv('a,b\n1,2\n3,"oops\n4,5\n', "data"));
    expect(open.code).toBe("INVALID_INPUT");
    expect(open.message).toContain("line 3");
    const after = rejection(() => parseCsv('a,b\n"x"y,1\n', "data"));
    expect(after.code).toBe("INVALID_INPUT");
    expect(after.message).toContain("line 2");
  });

  it("reads a table with quoted sensitive values and reports the line of a short row", () => {
    const table = readTable(csv('f0,f1,label,group\n1,"2",0,"A, north"\n"3",4,1,"B ""quoted"""\n'), opts);
    expect(table.rows).toEqual([[1, 2], [3, 4]]);
    expect(table.labels).toEqual([0, 1]);
    expect(table.sensitive.get("group")).toEqual(["A, north", 'B "quoted"']);
    // The record after a two-line quoted field starts on line 4.
    const short = rejection(() => readTable(csv('f0,label,group\n1,0,"A\nB"\n2,1\n'), opts));
    expect(short.code).toBe("INVALID_INPUT");
    expect(short.message).toMatch(/line 4 has 2 values; the header has 3/);
    const text = rejection(() => readTable(csv("f0,label\n1,0\nx,1\n"), { ...opts, sensitive: [] }));
    expect(text.message).toContain("line 3, column 'f0'");
  });

  it("checks the header and the first record, before the rest is read", () => {
    expect(checkTableHeader(csv('"f0",f1,label\r\n1,2,0\r\n1,2,oops\n'), opts)).toEqual(["f0", "f1", "label"]);
    // A text column not marked sensitive, a short first record: refused up front, with the line.
    const text = rejection(() => checkTableHeader(csv("f0,label,region\n1,0,north\n"), opts));
    expect(text.code).toBe("INVALID_INPUT");
    expect(text.message).toContain("line 2, column 'region'");
    expect(rejection(() => checkTableHeader(csv('f0,label,group\n"1\n",0\n'), opts)).message).toContain("line 2 has 2 values");
    expect(checkTableHeader(csv("f0,label\n"), { ...opts, sensitive: [] })).toEqual(["f0", "label"]);
    expect(rejection(() => checkTableHeader(csv("f0,f1\n1,2\n"), opts)).code).toBe("INVALID_INPUT");
    expect(rejection(() => checkTableHeader(csv("f0,f0,label\n"), opts)).code).toBe("INVALID_INPUT");
    expect(rejection(() => checkTableHeader(csv(""), opts)).code).toBe("INVALID_INPUT");
    expect(checkTableHeader(csv(`"a${"\n".repeat(3)}b",label\n1,2\n`), opts)).toEqual(["a\n\n\nb", "label"]);
  });

  it("reads a table on a worker thread exactly as on the calling one, errors included", async () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-table-thread-"));
    const good = join(dir, "good.csv");
    writeFileSync(good, 'a,b,group,label\n0.5,1,"x, y",1\n-2,3.25,z,0\n');
    const opts = { label: "label", sensitive: ["group"], what: "evaluation data" };
    expect(await readTableOffThread(good, opts)).toEqual(readTable(good, opts));
    const bad = join(dir, "bad.csv");
    writeFileSync(bad, "a,label\n1,1\nnot-a-number,0\n");
    await expect(readTableOffThread(bad, opts)).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("line 3") });
  });
});
