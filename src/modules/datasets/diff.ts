import type { ColumnView, DatasetDiff, FileAnalysis } from "./schema.ts";
import type { FileRow, VersionRow } from "./store.ts";

/** The statistics compared between versions, by where they sit in a column's stats. */
const COMPARED: { stat: string; read: (s: NonNullable<ColumnView["stats"]>) => unknown }[] = [
  { stat: "nullCount", read: (s) => s.nullCount },
  { stat: "nullFraction", read: (s) => s.nullFraction },
  { stat: "distinctApprox", read: (s) => s.distinctApprox },
  { stat: "min", read: (s) => s.min },
  { stat: "max", read: (s) => s.max },
  { stat: "mean", read: (s) => s.mean },
  { stat: "std", read: (s) => s.std },
  { stat: "p50", read: (s) => s.quantiles?.p50 },
];

/**
 * Two versions compared: files added, removed and changed (by path), each tabular file's schema
 * (columns added, removed, retyped) and row count, and the statistics of its columns present in
 * both that changed.
 */
export function diffVersions(dataset: string, from: { row: VersionRow; files: FileRow[] }, to: { row: VersionRow; files: FileRow[] }): DatasetDiff {
  const before = new Map(from.files.map((f) => [f.path, f]));
  const after = new Map(to.files.map((f) => [f.path, f]));
  const diff: DatasetDiff = {
    dataset,
    from: { version: Number(from.row.version), digest: `sha256:${from.row.digest}` },
    to: { version: Number(to.row.version), digest: `sha256:${to.row.digest}` },
    identical: from.row.digest === to.row.digest,
    rowCount: {
      from: nullableNumber(from.row.row_count),
      to: nullableNumber(to.row.row_count),
      change: from.row.row_count === null || to.row.row_count === null ? null : Number(to.row.row_count) - Number(from.row.row_count),
    },
    files: { added: [], removed: [], changed: [] },
    schema: [],
    statistics: [],
  };
  for (const [path, f] of after) if (!before.has(path)) diff.files.added.push({ path, size: Number(f.size) });
  for (const [path, f] of before) if (!after.has(path)) diff.files.removed.push({ path, size: Number(f.size) });
  for (const [path, a] of before) {
    const b = after.get(path);
    if (!b || a.digest === b.digest) continue;
    diff.files.changed.push({ path, from: `sha256:${a.digest}`, to: `sha256:${b.digest}`, sizeFrom: Number(a.size), sizeTo: Number(b.size) });
    const left = columnsOf(a);
    const right = columnsOf(b);
    if (!left || !right) continue;
    const leftByName = new Map(left.map((c) => [c.name, c]));
    const rightByName = new Map(right.map((c) => [c.name, c]));
    diff.schema.push({
      path,
      added: right.filter((c) => !leftByName.has(c.name)).map((c) => ({ name: c.name, type: c.type })),
      removed: left.filter((c) => !rightByName.has(c.name)).map((c) => ({ name: c.name, type: c.type })),
      typeChanged: left.filter((c) => rightByName.has(c.name) && rightByName.get(c.name)!.type !== c.type).map((c) => ({ name: c.name, from: c.type, to: rightByName.get(c.name)!.type })),
      rowCount: { from: nullableNumber(a.row_count), to: nullableNumber(b.row_count) },
    });
    for (const c of left) {
      const d = rightByName.get(c.name);
      if (!c.stats || !d?.stats) continue;
      for (const { stat, read } of COMPARED) {
        const x = read(c.stats);
        const y = read(d.stats);
        if (x === undefined && y === undefined) continue;
        if (!same(x, y)) diff.statistics.push({ path, column: c.name, stat, from: x ?? null, to: y ?? null });
      }
    }
  }
  return diff;
}

function columnsOf(f: FileRow): ColumnView[] | undefined {
  return f.analysis ? (JSON.parse(f.analysis) as FileAnalysis).columns : undefined;
}

function nullableNumber(n: number | null): number | null {
  return n === null ? null : Number(n);
}

function same(x: unknown, y: unknown): boolean {
  if (typeof x === "number" && typeof y === "number") return x === y || Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(x), Math.abs(y));
  return (x ?? null) === (y ?? null);
}
