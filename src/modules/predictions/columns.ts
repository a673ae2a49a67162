import { PlatformError, invalidInput } from "../../core/index.ts";
import { shownName } from "../evaluation/index.ts";
import type { Datatype, ModelSignature, TensorSpec } from "../serving/index.ts";

/** A column of the input data as DuckDB reads it. */
export interface SourceColumn {
  name: string;
  /** DuckDB's type name: DOUBLE, BIGINT, VARCHAR, DECIMAL(10,2), … */
  type: string;
}

/** The model's feature names and where they came from (as evaluation matches a CSV's columns). */
export interface FeatureNames {
  names: string[];
  from: string;
}

/** Which input columns the output keeps beside the predictions. */
export type KeepColumns = "other" | "all" | string[];

/** How the input's columns feed the model and which ones the output keeps. */
export interface ColumnPlan {
  /** The model's one input. */
  input: TensorSpec;
  /** Feature columns in the order the model reads them (its input's last dimension). */
  features: string[];
  /** How the features were matched: by name (and from where), or by position. */
  matchedBy: { by: "name" | "position"; from: string };
  /** Input columns copied into the output, in file order. */
  keep: string[];
}

/** Input datatypes batch inference fills (evaluation's numeric features). */
export const INPUT_DATATYPES: readonly Datatype[] = ["FP32", "FP64", "INT32", "INT64"];

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL(\(\d+,\d+\))?|BOOLEAN)$/;

/** Whether DuckDB reads a column of this type as numbers (a VARCHAR column is checked value by value). */
export function numericType(type: string): boolean {
  return NUMERIC.test(type);
}

/**
 * Matches the input's columns to the model's input. With feature names (the model card's
 * `model_card.features`, or the request's `features`) columns are matched by name in any order and
 * every name must be a column; without them every column but `exclude` feeds the model in file
 * order (as evaluation does), and their count must be the input's width.
 */
export function planColumns(opts: { signature: ModelSignature; columns: SourceColumn[]; names: FeatureNames | undefined; keep: KeepColumns; what: string }): ColumnPlan {
  const { signature, columns, names, what } = opts;
  if (signature.inputs.length !== 1) {
    throw new PlatformError(
      "UNSUPPORTED",
      `the model has ${signature.inputs.length} inputs (${signature.inputs.map((i) => i.name).join(", ")}); batch inference feeds one input of shape [rows, features]: export the model with its features in one tensor`,
    );
  }
  const input = signature.inputs[0]!;
  if (!INPUT_DATATYPES.includes(input.datatype)) {
    throw new PlatformError("UNSUPPORTED", `the model's input '${input.name}' is ${input.datatype}; batch inference feeds numeric features (${INPUT_DATATYPES.join(", ")}): export the model with one of them`);
  }
  if (input.shape.length !== 2) {
    throw new PlatformError("UNSUPPORTED", `the model's input '${input.name}' has shape ${JSON.stringify(input.shape)}; batch inference feeds [rows, features]: export the model with a 2-D input and a dynamic first dimension`);
  }
  const header = columns.map((c) => c.name);
  let features: string[];
  let matchedBy: ColumnPlan["matchedBy"];
  if (names) {
    const missing = names.names.filter((n) => !header.includes(n));
    if (missing.length) {
      throw invalidInput(`${what} lacks ${missing.length} of the model's ${names.names.length} features (${names.from}): missing ${listNames(missing)}. Features are matched by name, in any column order; add the missing columns to the data, or name the model's features with --features`, {
        missing: missing.filter((m) => shownName(m) !== undefined),
      });
    }
    if (new Set(names.names).size !== names.names.length) throw invalidInput(`the model's features (${names.from}) name a column twice; name each feature once`);
    features = names.names;
    matchedBy = { by: "name", from: names.from };
  } else {
    features = header;
    matchedBy = { by: "position", from: "the model names no features (no model_card.features tag): every column feeds the model in file order; set the tag or give --features to match them by name" };
  }
  const width = input.shape[1]!;
  if (width !== -1 && features.length !== width) {
    throw invalidInput(
      names
        ? `the model's input '${input.name}' takes ${width} features per row; its feature names (${names.from}) are ${features.length}; fix the feature list`
        : `the model's input '${input.name}' takes ${width} features per row; ${what} has ${features.length} columns and the model names no features; name them with the model_card.features tag (paved models tag <model> model_card.features=a,b,c) or --features`,
    );
  }
  const types = new Map(columns.map((c) => [c.name, c.type]));
  for (const f of features) {
    const type = types.get(f)!;
    if (!numericType(type) && type !== "VARCHAR") {
      throw invalidInput(`${what}: column ${shownName(f) ?? "(unnamed)"} is ${type}; features must be numbers: convert the column or leave it out of the model's features`);
    }
  }
  return { input, features, matchedBy, keep: keptColumns(opts.keep, header, features, what) };
}

function keptColumns(keep: KeepColumns, header: string[], features: string[], what: string): string[] {
  if (keep === "all") return header;
  if (keep === "other") return header.filter((h) => !features.includes(h));
  const missing = keep.filter((k) => !header.includes(k));
  if (missing.length) throw invalidInput(`--keep names ${listNames(missing)}, not columns of ${what}; its columns are ${listNames(header)}`);
  return header.filter((h) => keep.includes(h));
}

/** An output column: a prediction tensor's value (or one of its values) per row. */
export interface OutputColumn {
  name: string;
  tensor: string;
  /** Index into the tensor's row (0 for a one-value row). */
  index: number;
  datatype: Datatype;
}

/** DuckDB column types of the output datatypes batch inference writes. */
export const OUTPUT_TYPES: Partial<Record<Datatype, string>> = { FP32: "FLOAT", FP64: "DOUBLE", INT32: "INTEGER", INT64: "BIGINT", BOOL: "BOOLEAN" };

/**
 * The prediction columns of the model's outputs, given the shape each one came back with for a
 * chunk: `[rows]` or `[rows, 1]` gives a column named as the output, `[rows, k]` gives `name_0` …
 * `name_{k-1}`. A name already kept from the input is refused (drop it with --keep).
 */
export function outputColumns(outputs: { name: string; datatype: Datatype; shape: number[] }[], rows: number, keep: string[]): OutputColumn[] {
  const out: OutputColumn[] = [];
  for (const o of outputs) {
    const type = OUTPUT_TYPES[o.datatype];
    if (!type) throw new PlatformError("UNSUPPORTED", `the model's output '${o.name}' is ${o.datatype}; batch inference writes ${Object.keys(OUTPUT_TYPES).join(", ")} outputs`);
    if (o.shape[0] !== rows || o.shape.length > 2) {
      throw new PlatformError("UNSUPPORTED", `the model's output '${o.name}' came back with shape ${JSON.stringify(o.shape)} for ${rows} rows; batch inference writes outputs of shape [rows] or [rows, k]`);
    }
    const width = o.shape.length === 2 ? o.shape[1]! : 1;
    if (width === 1) out.push({ name: o.name, tensor: o.name, index: 0, datatype: o.datatype });
    else for (let i = 0; i < width; i++) out.push({ name: `${o.name}_${i}`, tensor: o.name, index: i, datatype: o.datatype });
  }
  const clash = out.filter((c) => keep.includes(c.name));
  if (clash.length) {
    throw invalidInput(`the prediction column${clash.length > 1 ? "s" : ""} ${listNames(clash.map((c) => c.name))} would replace input columns of the same name; leave them out of the output with --keep`);
  }
  return out;
}

/** Column names as a message may show them (plain names only, never arbitrary text from a file). */
export function listNames(names: string[]): string {
  const shown = names.map(shownName).filter((n): n is string => n !== undefined);
  const listed = shown.slice(0, 10);
  const more = names.length - listed.length;
  return [...listed, ...(more ? [`${more} more`] : [])].join(", ");
}

const REGISTRY_TYPES: Record<string, Datatype> = { float32: "FP32", float: "FP32", float64: "FP64", double: "FP64", int32: "INT32", int64: "INT64", bool: "BOOL" };

/**
 * The registry's record of a model's signature (ONNX element type names, named or unknown
 * dimensions) in serving's terms; undefined when it names a type batch inference does not fill,
 * and the engine then waits for the loaded model's own.
 */
export function signatureFromRegistry(recorded: { inputs: { name: string; type: string; shape: (number | string | null)[] | null }[]; outputs: { name: string; type: string; shape: (number | string | null)[] | null }[] } | null): ModelSignature | undefined {
  if (!recorded) return undefined;
  const spec = (t: { name: string; type: string; shape: (number | string | null)[] | null }): TensorSpec | undefined => {
    const datatype = REGISTRY_TYPES[t.type];
    return datatype && t.shape ? { name: t.name, datatype, shape: t.shape.map((d) => (typeof d === "number" && d >= 0 ? d : -1)) } : undefined;
  };
  const inputs = recorded.inputs.map(spec);
  const outputs = recorded.outputs.map(spec);
  if (inputs.some((s) => !s) || outputs.some((s) => !s)) return undefined;
  return { inputs: inputs as TensorSpec[], outputs: outputs as TensorSpec[] };
}
