import type { Tensor } from "./tensor.ts";

/**
 * One number per row of an output, the value whose distribution canary and shadow analysis
 * compare: the value itself for a [rows] or [rows, 1] output, the positive class's score for
 * [rows, 2], the arg-max class for [rows, k > 2]. Undefined for outputs with no numeric rows.
 */
export function rowScores(output: Tensor | undefined): number[] | undefined {
  if (!output || output.datatype === "BOOL" || output.shape.length === 0) return undefined;
  const values = output.data as ArrayLike<number | bigint>;
  const rows = output.shape[0]!;
  if (rows === 0 || values.length % rows !== 0) return undefined;
  const columns = values.length / rows;
  const scores = new Array<number>(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * columns;
    if (columns <= 2) scores[r] = Number(values[start + columns - 1]);
    else {
      let best = 0;
      for (let c = 1; c < columns; c++) if (values[start + c]! > values[start + best]!) best = c;
      scores[r] = best;
    }
  }
  return scores;
}

/** Mean absolute difference between two outputs' values; undefined when their shapes differ. */
export function meanAbsoluteDifference(a: Tensor | undefined, b: Tensor | undefined): number | undefined {
  if (!a || !b || a.data.length !== b.data.length || a.data.length === 0 || a.shape.join("x") !== b.shape.join("x")) return undefined;
  const x = a.data as ArrayLike<number | bigint>;
  const y = b.data as ArrayLike<number | bigint>;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(Number(x[i]) - Number(y[i]));
  return sum / x.length;
}
