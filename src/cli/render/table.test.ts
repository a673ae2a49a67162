import { describe, expect, it } from "vitest";
import { renderFields, renderTable } from "./table.ts";

describe("renderTable", () => {
  const rows = [
    { id: "job_1", name: "mnist", gpus: 2 },
    { id: "job_22", name: "a-much-longer-name", gpus: 10 },
  ];
  const columns = [
    { header: "ID", value: (r: (typeof rows)[number]) => r.id },
    { header: "NAME", value: (r: (typeof rows)[number]) => r.name },
    { header: "GPUS", value: (r: (typeof rows)[number]) => r.gpus, align: "right" as const },
  ];

  it("aligns columns under their headers", () => {
    expect(renderTable(rows, columns)).toBe(
      ["ID      NAME                GPUS", "job_1   mnist                  2", "job_22  a-much-longer-name    10", ""].join("\n"),
    );
  });

  it("prints the header alone when there are no rows", () => {
    expect(renderTable([], columns)).toBe("ID  NAME  GPUS\n");
  });

  it("shows missing values as '-' and keeps newlines from breaking rows", () => {
    const out = renderTable([{ a: null, b: "two\nlines" }], [
      { header: "A", value: (r: { a: null; b: string }) => r.a },
      { header: "B", value: (r: { a: null; b: string }) => r.b },
    ]);
    expect(out).toBe("A  B\n-  two lines\n");
    expect(renderTable([{ a: "x \r\n \n  y", b: "z" }], [
      { header: "A", value: (r) => r.a },
      { header: "B", value: (r) => r.b },
    ])).toBe("A    B\nx y  z\n");
    // Linear in the value: 200,000 spaces took the old /\s*\n\s*/ about 20 s on this machine.
    expect(renderFields([["V", `${" ".repeat(200_000)}x`]]).length).toBe(200_006);
  });

  it("counts a non-ASCII symbol as one column", () => {
    const out = renderTable([{ k: "≠" }, { k: "ab" }], [
      { header: "K", value: (r: { k: string }) => r.k },
      { header: "V", value: () => "x" },
    ]);
    expect(out.split("\n")[1]).toBe("≠   x");
  });
});

describe("renderFields", () => {
  it("aligns values after the keys", () => {
    expect(renderFields([["ID", "job_1"], ["Exit code", 0], ["Message", null]])).toBe("ID:         job_1\nExit code:  0\nMessage:    -\n");
  });
});
