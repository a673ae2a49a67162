import { invalidInput } from "../../../core/index.ts";

/**
 * What a model predicted for the evaluation rows: one score per row (binary classification, as
 * the positive class's probability or a score thresholded at 0.5, or a regression value), or, for
 * a classifier with k > 2 classes, each row's class probabilities.
 */
export type Predictions = { kind: "scores"; scores: number[] } | { kind: "classes"; probabilities: number[][] };

/**
 * Reads a model's first output, `width` values per row: one or two columns are scores (two are
 * class probabilities: the positive class's is column 1), more are k-class probabilities; rows
 * that are not already probabilities (negative, or not summing to 1) are logits and get a softmax.
 */
export function predictionsFromOutput(values: number[], rows: number, width: number): Predictions {
  if (width <= 2) {
    const column = width === 2 ? 1 : 0;
    return { kind: "scores", scores: Array.from({ length: rows }, (_, r) => values[r * width + column]!) };
  }
  const probabilities: number[][] = [];
  for (let r = 0; r < rows; r++) probabilities.push(values.slice(r * width, (r + 1) * width));
  const areProbabilities = probabilities.every((row) => row.every((p) => p >= 0 && p <= 1) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-3);
  return { kind: "classes", probabilities: areProbabilities ? probabilities : probabilities.map(softmax) };
}

export function softmax(logits: number[]): number[] {
  const top = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** Each row's most probable class (the first on a tie). */
export function predictedClasses(probabilities: number[][]): number[] {
  return probabilities.map((row) => row.reduce((best, p, c) => (p > row[best]! ? c : best), 0));
}

/** A k-class evaluation needs labels that are class indices 0..k-1; INVALID_INPUT names the first row that is not (never its value). */
export function checkClassLabels(labels: number[], classes: number, label: string): void {
  const bad = labels.findIndex((y) => !Number.isInteger(y) || y < 0 || y >= classes);
  if (bad >= 0) {
    throw invalidInput(
      `the model outputs ${classes} class scores, so label column '${label}' must hold class indices 0..${classes - 1}; data row ${bad + 1} holds another value (map class names to the indices of the model's output columns)`,
    );
  }
}
