export type Align = "left" | "right";

export interface Column<Row> {
  header: string;
  value(row: Row): string | number | null | undefined;
  align?: Align;
}

/**
 * Renders rows as an aligned plain-text table with a header line; empty cells print as "-".
 * @example renderTable(jobs, [{ header: "ID", value: (j) => j.id }, { header: "PHASE", value: (j) => j.phase }])
 */
export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row))));
  const headers = columns.map((c) => c.header);
  const widths = headers.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i] ?? ""))));
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - width(v)));
        if (columns[i]?.align === "right") return pad + v;
        return last ? v : v + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n") + "\n";
}

/** Renders `key: value` lines with the values aligned. */
export function renderFields(fields: readonly (readonly [string, string | number | null | undefined])[]): string {
  const keyWidth = Math.max(0, ...fields.map(([k]) => width(k) + 1));
  return fields.map(([k, v]) => `${(k + ":").padEnd(keyWidth)}  ${cellText(v)}`.trimEnd()).join("\n") + "\n";
}

function cellText(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === "") return "-";
  const text = String(value);
  if (!text.includes("\n")) return text;
  // A newline would break the table's alignment: the whitespace around each becomes one space.
  // Split and trim rather than /\s*\n\s*/g, which backtracks quadratically over a long run of
  // spaces in a value the server returned.
  const lines = text.split("\n");
  const middle = lines.slice(1, -1).map((line) => line.trim()).filter((line) => line !== "");
  return [lines[0]!.trimEnd(), ...middle, lines.at(-1)!.trimStart()].join(" ");
}

// Counts code points, so accented names and symbols such as "≠" take one column.
function width(text: string): number {
  return [...text].length;
}
