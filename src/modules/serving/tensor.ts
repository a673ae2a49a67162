// Tensors as the serving module passes them around: OIP (KServe v2) datatypes over typed arrays.
// Turning request JSON into typed arrays, and checking it against a model's signature, happens
// here once, so every runtime receives tensors it can run as they are.
import { invalidInput, PlatformError } from "../../core/index.ts";

/** OIP datatypes Paved serves. FP16 and BYTES are not supported yet (a model using them fails to load). */
export const DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP32", "FP64"] as const;
export type Datatype = (typeof DATATYPES)[number];

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A tensor: flat row-major data and its shape. BOOL is held as a Uint8Array of 0/1. */
export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TensorData;
}

/** One input or output of a model: -1 marks a dynamic dimension. */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

const ARRAYS: Record<Datatype, new (length: number) => TensorData> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

const INTEGER_RANGE: Partial<Record<Datatype, [number, number]>> = {
  UINT8: [0, 255],
  UINT16: [0, 65535],
  UINT32: [0, 4294967295],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-128, 127],
  INT16: [-32768, 32767],
  INT32: [-2147483648, 2147483647],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

export function isDatatype(value: string): value is Datatype {
  return (DATATYPES as readonly string[]).includes(value);
}

export function allocate(datatype: Datatype, length: number): TensorData {
  return new ARRAYS[datatype](length);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** One input of an infer request as it arrives (already shape-checked by zod). */
export interface RequestTensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown;
}

/**
 * Checks the request's inputs against the signature (names, datatypes, ranks, fixed dimensions,
 * data length) and converts their data to typed arrays. Throws INVALID_INPUT saying what to fix.
 */
export function toInputTensors(signature: ModelSignature, inputs: RequestTensor[]): Tensor[] {
  const expected = inputsByName(signature);
  const seen = new Set<string>();
  const tensors: Tensor[] = [];
  for (const input of inputs) {
    const spec = expected.get(input.name);
    if (!spec) throw invalidInput(`unknown input '${input.name}'; the model's inputs are ${describeInputs(signature)}`);
    if (seen.has(input.name)) throw invalidInput(`input '${input.name}' is given twice; send each input once`);
    seen.add(input.name);
    if (input.datatype !== spec.datatype) {
      throw invalidInput(`input '${input.name}' has datatype ${input.datatype}; the model expects ${spec.datatype}`);
    }
    if (input.shape.length !== spec.shape.length || input.shape.some((d, i) => spec.shape[i] !== -1 && spec.shape[i] !== d)) {
      throw invalidInput(`input '${input.name}' has shape ${JSON.stringify(input.shape)}; the model expects ${JSON.stringify(spec.shape)} (-1: any size)`);
    }
    tensors.push({ name: spec.name, datatype: spec.datatype, shape: input.shape, data: toTypedArray(input, spec.datatype) });
  }
  const missing = signature.inputs.filter((s) => !seen.has(s.name));
  if (missing.length) throw invalidInput(`missing input ${missing.map((s) => `'${s.name}'`).join(", ")}; the model's inputs are ${describeInputs(signature)}`);
  return tensors;
}

// A signature is fixed once its model is loaded: its lookup map is made once, not per request.
const byName = new WeakMap<ModelSignature, Map<string, TensorSpec>>();

function inputsByName(signature: ModelSignature): Map<string, TensorSpec> {
  let map = byName.get(signature);
  if (!map) byName.set(signature, (map = new Map(signature.inputs.map((s) => [s.name, s]))));
  return map;
}

function describeInputs(signature: ModelSignature): string {
  return signature.inputs.map((s) => `${s.name} (${s.datatype} ${JSON.stringify(s.shape)})`).join(", ");
}

function toTypedArray(input: RequestTensor, datatype: Datatype): TensorData {
  const length = elementCount(input.shape);
  const flat = Array.isArray(input.data) ? flatten(input.data, input.name) : undefined;
  if (!flat) throw invalidInput(`input '${input.name}': data must be an array (flat, row-major, or nested)`);
  if (flat.length !== length) {
    throw invalidInput(`input '${input.name}' has ${flat.length} values; shape ${JSON.stringify(input.shape)} needs ${length}`);
  }
  const out = allocate(datatype, length);
  if (datatype === "BOOL") {
    for (let i = 0; i < length; i++) {
      const v = flat[i];
      if (typeof v !== "boolean") throw invalidInput(`input '${input.name}' (BOOL): value ${i} is not true or false`);
      out[i] = v ? 1 : 0;
    }
    return out;
  }
  const range = INTEGER_RANGE[datatype];
  const big = out instanceof BigInt64Array || out instanceof BigUint64Array;
  for (let i = 0; i < length; i++) {
    const v = flat[i];
    if (typeof v !== "number" || (range && !Number.isInteger(v))) {
      throw invalidInput(`input '${input.name}' (${datatype}): value ${i} is ${JSON.stringify(v)}; send ${range ? "integers" : "numbers"}`);
    }
    if (range && (v < range[0] || v > range[1])) {
      throw invalidInput(`input '${input.name}' (${datatype}): value ${i} (${v}) is out of range [${range[0]}, ${range[1]}]`);
    }
    if (big) (out as BigInt64Array)[i] = BigInt(v);
    else (out as Float64Array)[i] = v;
  }
  return out;
}

const MAX_DEPTH = 32;

/** Flattens nested arrays (row-major); a flat array is returned as it is. */
function flatten(data: unknown[], name: string): unknown[] {
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (items: unknown[], depth: number) => {
    if (depth > MAX_DEPTH) throw invalidInput(`input '${name}': data is nested deeper than ${MAX_DEPTH} levels`);
    for (const item of items) {
      if (Array.isArray(item)) walk(item, depth + 1);
      else out.push(item);
    }
  };
  walk(data, 0);
  return out;
}

/** The JSON form of tensor data: numbers (64-bit integers beyond 2^53 lose precision), booleans for BOOL. */
export function toJsonData(tensor: Tensor): number[] | boolean[] {
  const { data } = tensor;
  if (tensor.datatype === "BOOL") return Array.from(data as Uint8Array, (v) => v !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data as Float64Array);
}

/** Converts onnxruntime's element type names to OIP datatypes; undefined when unsupported. */
export function datatypeFromOrt(type: string): Datatype | undefined {
  const map: Record<string, Datatype> = {
    bool: "BOOL",
    uint8: "UINT8",
    uint16: "UINT16",
    uint32: "UINT32",
    uint64: "UINT64",
    int8: "INT8",
    int16: "INT16",
    int32: "INT32",
    int64: "INT64",
    float32: "FP32",
    float64: "FP64",
  };
  return map[type];
}

export function datatypeToOrt(datatype: Datatype): string {
  return datatype === "BOOL" ? "bool" : datatype === "FP32" ? "float32" : datatype === "FP64" ? "float64" : datatype.toLowerCase();
}

/** A signature whose element type a runtime cannot serve fails the load with this. */
export function unsupportedType(what: string, type: string): PlatformError {
  return new PlatformError("UNSUPPORTED", `${what} has element type '${type}', which Paved cannot serve yet; supported: ${DATATYPES.join(", ")}`);
}
