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
  /**
   * JSON values (flat row-major, or nested), or the tensor's bytes when it came as binary tensor
   * data (little-endian, row-major, BOOL one byte each): JSON never yields a Uint8Array.
   */
  data?: unknown;
}

/** Bytes per element of each datatype, in binary tensor data and in memory alike. */
export function elementBytes(datatype: Datatype): number {
  return ELEMENT_BYTES[datatype];
}

const ELEMENT_BYTES: Record<Datatype, number> = { BOOL: 1, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, UINT32: 4, INT32: 4, FP32: 4, UINT64: 8, INT64: 8, FP64: 8 };

// Binary tensor data is little-endian; typed arrays use the host's order, little-endian on every
// platform Node ships for but a few (s390x), where elements are swapped on the way in and out.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
  if (input.data instanceof Uint8Array) return fromBinary(input.name, input.shape, datatype, length, input.data);
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

/**
 * A binary input's bytes as a typed array: one copy into memory of the element's alignment (the
 * bytes sit at any offset after the JSON header), and no number parsing.
 */
function fromBinary(name: string, shape: number[], datatype: Datatype, length: number, bytes: Uint8Array): TensorData {
  const size = elementBytes(datatype);
  if (bytes.byteLength !== length * size) {
    throw invalidInput(
      `input '${name}' has ${bytes.byteLength} bytes of binary data (binary_data_size); shape ${JSON.stringify(shape)} of ${datatype} needs ${length * size} (${length} × ${size}); send the tensor's raw little-endian bytes, row-major`,
      { reason: "binary_size_mismatch", input: name, binaryDataSize: bytes.byteLength, expected: length * size },
    );
  }
  // Every byte is written next, so the memory is not zeroed first; it is the array's own (transferable to a worker).
  const memory = Buffer.allocUnsafeSlow(bytes.byteLength);
  memory.set(bytes);
  const out = new (ARRAYS[datatype] as unknown as new (buffer: ArrayBufferLike, offset: number, length: number) => TensorData)(memory.buffer, memory.byteOffset, length);
  const view = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  if (datatype === "BOOL") {
    const bad = view.findIndex((b) => b > 1);
    if (bad >= 0) throw invalidInput(`input '${name}' (BOOL): byte ${bad} is ${view[bad]}; binary BOOL elements are one byte each, 0 or 1`, { reason: "binary_bool_value", input: name });
  }
  if (!HOST_LITTLE_ENDIAN && size > 1) swapBytes(view, size);
  return out;
}

function swapBytes(view: Uint8Array, size: number): void {
  for (let i = 0; i < view.length; i += size) view.subarray(i, i + size).reverse();
}

/** A tensor's data as binary tensor data: its bytes, little-endian (a view, no copy, on little-endian hosts). */
export function toBinaryData(tensor: Tensor): Uint8Array {
  const { data } = tensor;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LITTLE_ENDIAN) return view;
  const copy = view.slice();
  swapBytes(copy, elementBytes(tensor.datatype));
  return copy;
}

/**
 * The first `max` values of a request input as JSON values (numbers, or booleans for BOOL),
 * whether it came as JSON or as binary data; for the prediction log, which must not hold more.
 */
export function inputValuePrefix(datatype: string, data: unknown, max: number): { values: unknown[]; truncated: boolean } {
  if (!(data instanceof Uint8Array)) return jsonValuePrefix(data, max);
  if (!isDatatype(datatype)) return { values: [], truncated: data.byteLength > 0 };
  const size = elementBytes(datatype);
  const count = Math.floor(data.byteLength / size);
  const take = Math.min(count, max);
  const typed = allocate(datatype, take);
  const view = new Uint8Array(typed.buffer);
  view.set(data.subarray(0, take * size));
  if (!HOST_LITTLE_ENDIAN && size > 1) swapBytes(view, size);
  return { values: toJsonData({ name: "", datatype, shape: [take], data: typed }), truncated: take < count };
}

/** The first `max` values of a tensor as JSON values. */
export function tensorValuePrefix(tensor: Tensor, max: number): { values: unknown[]; truncated: boolean } {
  const length = tensor.data.length;
  if (length <= max) return { values: toJsonData(tensor), truncated: false };
  return { values: toJsonData({ ...tensor, data: tensor.data.subarray(0, max) as TensorData }), truncated: true };
}

/** The first `max` leaf values of flat or nested JSON tensor data, without walking past them. */
export function jsonValuePrefix(data: unknown, max: number): { values: unknown[]; truncated: boolean } {
  const values: unknown[] = [];
  if (!Array.isArray(data)) return { values, truncated: data !== undefined };
  const stack: { items: unknown[]; index: number }[] = [{ items: data, index: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.index++];
    if (Array.isArray(item)) {
      stack.push({ items: item, index: 0 });
      continue;
    }
    if (values.length >= max) return { values, truncated: true };
    values.push(item);
  }
  return { values, truncated: false };
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
  // A loop, not Array.from: on a typed array that takes the iterator path, ~0.4 µs for one value.
  const values: number[] = [];
  for (let i = 0; i < data.length; i++) values.push(data[i] as number);
  return values;
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
