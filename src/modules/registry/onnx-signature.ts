// A small, bounded reader for the part of ONNX's protobuf a signature needs:
// ModelProto.graph (7) → GraphProto.input (11) / output (12) / initializer (5) →
// ValueInfoProto.name (1), type (2) → TypeProto.tensor_type (1) → elem_type (1), shape (2) →
// TensorShapeProto.dim (1) → dim_value (1) | dim_param (2). Everything else is skipped unread.

/** One named tensor of a model's signature. `shape` entries: a size, a symbolic name, or null (unknown). */
export interface TensorSpec {
  name: string;
  type: string;
  shape: (number | string | null)[] | null;
}

export interface ModelSignature {
  /** The file the signature was read from, relative to the version root. */
  file: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

// TensorProto.DataType, named as numpy names them (what MLflow's tensor signatures use).
const ELEMENT_TYPES: Record<number, string> = {
  1: "float32",
  2: "uint8",
  3: "int8",
  4: "uint16",
  5: "int16",
  6: "int32",
  7: "int64",
  8: "string",
  9: "bool",
  10: "float16",
  11: "float64",
  12: "uint32",
  13: "uint64",
  14: "complex64",
  15: "complex128",
  16: "bfloat16",
};

const MAX_TENSORS = 10_000;
const MAX_DIMS = 64;

class MalformedOnnx extends Error {}

interface Field {
  number: number;
  wireType: number;
  /** Varint value (wire type 0). */
  varint?: bigint;
  /** Bytes of a length-delimited field (wire type 2). */
  bytes?: Uint8Array;
}

/** Iterates the top-level fields of one protobuf message, bounds-checking every length. */
function* fields(buf: Uint8Array): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw new MalformedOnnx("truncated varint");
      const byte = buf[pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new MalformedOnnx("varint too long");
  };
  while (pos < buf.length) {
    const key = varint();
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    switch (wireType) {
      case 0:
        yield { number, wireType, varint: varint() };
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const length = varint();
        if (length > BigInt(buf.length - pos)) throw new MalformedOnnx("length past the end of the message");
        const start = pos;
        pos += Number(length);
        yield { number, wireType, bytes: buf.subarray(start, pos) };
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new MalformedOnnx(`unsupported wire type ${wireType}`);
    }
    if (pos > buf.length) throw new MalformedOnnx("field past the end of the message");
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

function toSigned(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

function readShape(buf: Uint8Array): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  for (const f of fields(buf)) {
    if (f.number !== 1 || !f.bytes) continue;
    if (dims.length >= MAX_DIMS) throw new MalformedOnnx("too many dimensions");
    let dim: number | string | null = null;
    for (const d of fields(f.bytes)) {
      if (d.number === 1 && d.varint !== undefined) dim = toSigned(d.varint);
      else if (d.number === 2 && d.bytes) dim = utf8.decode(d.bytes) || null;
    }
    dims.push(dim);
  }
  return dims;
}

function readValueInfo(buf: Uint8Array): TensorSpec {
  let name = "";
  let type = "unknown";
  let shape: TensorSpec["shape"] = null;
  for (const f of fields(buf)) {
    if (f.number === 1 && f.bytes) name = utf8.decode(f.bytes);
    else if (f.number === 2 && f.bytes) {
      for (const t of fields(f.bytes)) {
        if (!t.bytes) continue;
        if (t.number === 1) {
          for (const tensor of fields(t.bytes)) {
            if (tensor.number === 1 && tensor.varint !== undefined) type = ELEMENT_TYPES[Number(tensor.varint)] ?? `onnx-type-${tensor.varint}`;
            else if (tensor.number === 2 && tensor.bytes) shape = readShape(tensor.bytes);
          }
        } else if (t.number === 4) type = "sequence";
        else if (t.number === 5) type = "map";
        else if (t.number === 8) type = "sparse_tensor";
        else if (t.number === 9) type = "optional";
      }
    }
  }
  return { name, type, shape };
}

/**
 * Reads the inputs and outputs of an ONNX model. Graph inputs that are initializers (weights, in
 * models exported with IR version < 4) are left out. Throws on bytes that are not an ONNX model.
 */
export function readOnnxSignature(bytes: Uint8Array, file: string): ModelSignature {
  let graph: Uint8Array | undefined;
  for (const f of fields(bytes)) if (f.number === 7 && f.bytes) graph = f.bytes;
  if (!graph) throw new MalformedOnnx("no graph");
  const inputs: TensorSpec[] = [];
  const outputs: TensorSpec[] = [];
  const initializers = new Set<string>();
  for (const f of fields(graph)) {
    if (!f.bytes) continue;
    if (f.number === 11 || f.number === 12) {
      if (inputs.length + outputs.length >= MAX_TENSORS) throw new MalformedOnnx("too many inputs and outputs");
      (f.number === 11 ? inputs : outputs).push(readValueInfo(f.bytes));
    } else if (f.number === 5) {
      // TensorProto.name is field 8; raw weights are skipped without copying.
      for (const t of fields(f.bytes)) if (t.number === 8 && t.bytes) initializers.add(utf8.decode(t.bytes));
    }
  }
  if (!outputs.length) throw new MalformedOnnx("graph has no outputs");
  return { file, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

export function isMalformedOnnx(error: unknown): boolean {
  return error instanceof MalformedOnnx;
}
