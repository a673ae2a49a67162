// Micro-batching helpers: which requests may share one run, and how to merge their inputs along
// the batch axis and split the outputs back. Pure functions, used by the runtimes.
import { allocate, type ModelSignature, type Tensor } from "./tensor.ts";

/**
 * Whether requests to this model may be concatenated along axis 0: every input and output has a
 * dynamic first dimension, and the model names it the same everywhere (e.g. torch's `batch`).
 * `axisNames` are the runtime's names for each input's and output's first dimension.
 */
export function isBatchable(signature: ModelSignature, axisNames: (string | number | undefined)[]): boolean {
  const all = [...signature.inputs, ...signature.outputs];
  if (all.length === 0 || all.some((t) => t.shape.length === 0 || t.shape[0] !== -1)) return false;
  const first = axisNames[0];
  return typeof first === "string" && first !== "" && axisNames.every((n) => n === first);
}

/**
 * The key under which a request may join a batch (same input names, datatypes and non-batch
 * dimensions), and its rows; undefined when its inputs disagree on the batch size.
 */
export function batchKey(inputs: Tensor[]): { key: string; rows: number } | undefined {
  const rows = batchRows(inputs);
  if (rows === undefined) return undefined;
  const parts = inputs
    .map((t) => `${t.name}:${t.datatype}:${t.shape.slice(1).join("x")}`)
    .sort();
  return { key: parts.join("|"), rows };
}

/** The rows of a request (its inputs' first dimension); undefined when its inputs disagree on it. */
export function batchRows(inputs: Tensor[]): number | undefined {
  const rows = inputs[0]?.shape[0];
  if (rows === undefined || inputs.some((t) => t.shape[0] !== rows)) return undefined;
  return rows;
}

/** Concatenates the requests' inputs along axis 0 (each request holds the same input names). */
export function mergeInputs(requests: Tensor[][]): Tensor[] {
  if (requests.length === 1) return requests[0]!;
  const first = requests[0]!;
  return first.map((template) => {
    const parts = requests.map((inputs) => inputs.find((t) => t.name === template.name)!);
    const rows = parts.reduce((n, t) => n + t.shape[0]!, 0);
    const data = allocate(template.datatype, parts.reduce((n, t) => n + t.data.length, 0));
    let offset = 0;
    for (const part of parts) {
      (data as Float64Array).set(part.data as Float64Array, offset);
      offset += part.data.length;
    }
    return { name: template.name, datatype: template.datatype, shape: [rows, ...template.shape.slice(1)], data };
  });
}

/** Splits each output along axis 0 into the requests' row counts. Throws if the rows disagree. */
export function splitOutputs(outputs: Tensor[], rows: number[]): Tensor[][] {
  if (rows.length === 1) return [outputs];
  const total = rows.reduce((a, b) => a + b, 0);
  const perRequest: Tensor[][] = rows.map(() => []);
  for (const output of outputs) {
    if (output.shape[0] !== total) {
      throw new Error(`output '${output.name}' has ${output.shape[0]} rows for a batch of ${total}`);
    }
    const rowSize = total === 0 ? 0 : output.data.length / total;
    let start = 0;
    rows.forEach((n, i) => {
      perRequest[i]!.push({
        name: output.name,
        datatype: output.datatype,
        shape: [n, ...output.shape.slice(1)],
        data: output.data.slice(start * rowSize, (start + n) * rowSize),
      });
      start += n;
    });
  }
  return perRequest;
}
