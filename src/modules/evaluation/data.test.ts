import { describe, expect, it } from "vitest";
import { checkTableHead, parseCsv, readTable, readTableOffThread } from "./data.ts";

const csv = (text: string): Uint8Array => new TextEncoder().encode(text);
const head = (text: string) => ({ text, complete: true });
const checkTableHeader = (bytes: Uint8Array, options: Parameters<typeof checkTableHead>[1]) => checkTableHead(head(new TextDecoder().decode(bytes)), options).header;
const opts = { label: "label", sensitive: ["group"], what: "evaluation data" };

function rejection(run: () => unknown): { code: string; message: string; details?: unknown } {
  try {
    run();
  } catch (error) {
    return error as { code: string; message: string; details?: unknown };
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

  it("never quotes the file in an error: no cell, no record, no header that is not a plain column name", () => {
    const secret = "pvd_s3cr3t-admin-token";
    // A cell that is not a number, in the first record and further down.
    for (const text of [`f0,label\n${secret},1\n`, `f0,label\n1,0\n${secret},1\n`, `f0,label\n"${secret}"x,1\n`]) {
      const error = rejection(() => readTable(csv(text), { ...opts, sensitive: [] }));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).not.toContain(secret);
    }
    // A "header" that is some other file's first line (/proc/self/environ, /etc/passwd).
    for (const first of [`PAVED_ADMIN_TOKEN=${secret}\0PATH=/usr/bin`, `root:x:0:0:root:/root:/bin/bash`]) {
      const error = rejection(() => checkTableHeader(csv(`${first}\nx\n`), opts));
      expect(error.code).toBe("INVALID_INPUT");
      expect(error.message).not.toContain(first.slice(0, 12));
      const named = rejection(() => checkTableHeader(csv(`${first},label\n1,0\n`), { ...opts, features: { names: ["f0"], from: "test" } }));
      expect(named.message).not.toContain(first.slice(0, 12));
    }
  });

  it("matches features by name in the model's order, and refuses a header that does not match", () => {
    const features = { names: ["f0", "f1", "f2"], from: "the model_card.features tag" };
    const reversed = readTable(csv("f2,f1,f0,label,group\n3,2,1,0,A\n6,5,4,1,B\n"), { ...opts, features });
    expect(reversed.features).toEqual(["f0", "f1", "f2"]);
    expect(reversed.rows).toEqual([[1, 2, 3], [4, 5, 6]]);
    const mismatch = rejection(() => checkTableHeader(csv("f0,f1,f9,label\n1,2,3,0\n"), { ...opts, features }));
    expect(mismatch).toMatchObject({ code: "INVALID_INPUT", details: { missing: ["f2"], extra: ["f9"] } });
    // Reference data: what it lacks is left out (drift says so), other columns are ignored.
    const reference = readTable(csv("f1,f0,label,note\n1,2,0,x\n"), { sensitive: [], what: "reference data", features, partial: true });
    expect(reference.features).toEqual(["f0", "f1"]);
    expect(reference.rows).toEqual([[2, 1]]);
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
    const good = csv('a,b,group,label\n0.5,1,"x, y",1\n-2,3.25,z,0\n');
    const opts = { label: "label", sensitive: ["group"], what: "evaluation data" };
    expect(await readTableOffThread(good, opts)).toEqual(readTable(good, opts));
    const bad = csv("a,label\n1,1\nnot-a-number,0\n");
    await expect(readTableOffThread(bad, opts)).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringContaining("line 3") });
  });
});
