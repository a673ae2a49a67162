// A bounded, streaming reader of what Paved needs from an ONNX model (ModelProto, protobuf):
// - the signature: ModelProto.graph (7) → GraphProto.input (11) / output (12) → ValueInfoProto
//   name (1), type (2) → TypeProto.tensor_type (1) → elem_type (1), shape (2) → dim (1) →
//   dim_value (1) | dim_param (2); initializers (5, TensorProto.name 8) are not inputs;
// - every tensor whose data lives outside the file: TensorProto.data_location (14) = EXTERNAL or
//   an external_data entry (13) — in initializers, sparse initializers (15), Constant-style node
//   attributes (AttributeProto.t/tensors/sparse_tensor(s)), subgraphs (AttributeProto.g/graphs),
//   functions (ModelProto 25) and training graphs (ModelProto 20). onnxruntime would read those
//   files relative to its working directory (or, for `*/_ORT_MEM_ADDR_/*`, from memory).
// Tensor payloads (raw_data, float_data, …) and everything else are skipped by length without
// being read, so a model's weights cost nothing; the bytes that are read (field keys, lengths,
// names, value infos) count against `maxStructureBytes`. The input arrives in chunks, so the whole
// file is never held at once. Run it off the main thread (see onnx-inspection.ts).

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

/** What a model holds that Paved checks before onnxruntime ever sees it. */
export interface OnnxInspection {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Tensors whose data ONNX would read from another file: the tensor's name and the location it names (the first 20). */
  externalData: { tensor: string; location: string }[];
  /** How many tensors keep their data in another file. */
  externalTensors: number;
}

export interface OnnxReadLimits {
  /** Bytes of structure read (everything but skipped tensor payloads and other skipped fields). */
  maxStructureBytes: number;
}

/** The next chunk of the model's bytes; undefined at the end. */
export type ChunkSource = () => Promise<Uint8Array | undefined>;

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
/** Graphs nest through If/Loop/Scan attributes; deeper than this is not a real model. */
const MAX_DEPTH = 32;
/** Largest name, external-data entry or signature value info read into memory. */
const MAX_STRING = 64 * 1024;
const MAX_VALUE_INFO = 1024 * 1024;
/** All input and output descriptions together (what the registry stores as the signature). */
const MAX_SIGNATURE_BYTES = 4 * 1024 * 1024;
/** Initializer names kept (to leave them out of the inputs); exported models have thousands. */
const MAX_INITIALIZERS = 1_000_000;
const MAX_EXTERNAL_LISTED = 20;

/** Bytes that are not an ONNX model this reader understands (a model Paved cannot serve). */
export class MalformedOnnx extends Error {}

/** A model whose structure is larger than `maxStructureBytes`. */
export class OnnxTooComplex extends Error {}

const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder("utf-8", { fatal: false });

/** A forward-only reader over chunks: small reads are synchronous once `fill` has buffered them. */
class Reader {
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  /** Absolute offset of buf[0]. */
  private base = 0;
  private ended = false;
  /** Bytes read as structure so far. */
  structure = 0;

  constructor(
    private readonly next: ChunkSource,
    private readonly maxStructure: number,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }

  get available(): number {
    return this.buf.length - this.pos;
  }

  /** True once the input has no more chunks (what is buffered is all that is left). */
  get exhausted(): boolean {
    return this.ended;
  }

  /** Skips `n` buffered bytes; false (and nothing skipped) when fewer are buffered. */
  skipNow(n: number): boolean {
    if (n > this.buf.length - this.pos) return false;
    this.pos += n;
    return true;
  }

  /** Buffers at least `n` contiguous bytes; false when the input ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.buf.length - this.pos < n && !this.ended) {
      const chunk = await this.next();
      if (!chunk) {
        this.ended = true;
        break;
      }
      if (chunk.length === 0) continue;
      const rest = this.buf.subarray(this.pos);
      if (rest.length === 0) {
        this.base += this.buf.length;
        this.buf = chunk;
      } else {
        const merged = new Uint8Array(rest.length + chunk.length);
        merged.set(rest);
        merged.set(chunk, rest.length);
        this.base += this.pos;
        this.buf = merged;
      }
      this.pos = 0;
    }
    return this.buf.length - this.pos >= n;
  }

  /** A varint from the buffer (call `fill(10)` first); exact up to 2^53, and never 0 unless it is 0. */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new MalformedOnnx("truncated varint");
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new MalformedOnnx("varint too long");
  }

  /** Counts bytes read as structure since `from` against the bound. */
  charge(from: number): void {
    this.structure += this.offset - from;
    if (this.structure > this.maxStructure) throw new OnnxTooComplex(`the model's structure is larger than ${this.maxStructure} bytes`);
  }

  /** `n` bytes, read into memory (bounded by the caller). */
  async bytes(n: number): Promise<Uint8Array> {
    if (!(await this.fill(n))) throw new MalformedOnnx("length past the end of the file");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Skips `n` bytes without reading them. */
  async skip(n: number): Promise<void> {
    const here = Math.min(n, this.available);
    this.pos += here;
    let left = n - here;
    while (left > 0) {
      const chunk = this.ended ? undefined : await this.next();
      if (!chunk) {
        this.ended = true;
        throw new MalformedOnnx("length past the end of the file");
      }
      this.base += this.buf.length;
      this.buf = chunk;
      this.pos = Math.min(left, chunk.length);
      left -= this.pos;
    }
  }
}

/** The end of the top-level message: the end of the file. */
const TOP = Number.MAX_SAFE_INTEGER;

interface Field {
  number: number;
  wire: number;
  /** Varint value (wire type 0) or length (wire type 2). */
  value: number;
  /** Absolute offset where the field's payload ends. */
  end: number;
}

/**
 * Reads the next field header inside a message that ends at `end` (undefined at its end), from
 * bytes already buffered: at least 20 (the longest header), or all that is left of the input.
 * Fixed-width fields are skipped here; a length-delimited payload is left to the caller, to
 * read or skip (a skipped payload is not charged as structure).
 */
function header(r: Reader, end: number): Field | undefined {
  if (r.offset >= end) {
    if (r.offset > end) throw new MalformedOnnx("field past the end of its message");
    return undefined;
  }
  if (r.available === 0) {
    // Only the top-level message (ModelProto) ends where the file does.
    if (end === TOP) return undefined;
    throw new MalformedOnnx("truncated model");
  }
  const from = r.offset;
  const key = r.varint();
  const number = Math.floor(key / 8);
  const wire = key % 8;
  let value = 0;
  if (wire === 0 || wire === 2) value = r.varint();
  else if (wire === 1 || wire === 5) {
    if (!r.skipNow(wire === 1 ? 8 : 4)) throw new MalformedOnnx("truncated model");
  } else {
    // Groups (3, 4) are not used by ONNX; refusing them keeps this reader and onnxruntime's in agreement.
    throw new MalformedOnnx(`unsupported wire type ${wire}`);
  }
  r.charge(from);
  const payloadEnd = r.offset + (wire === 2 ? value : 0);
  if (payloadEnd > end) throw new MalformedOnnx("length past the end of its message");
  return { number, wire, value, end: payloadEnd };
}

async function headerLater(r: Reader, end: number): Promise<Field | undefined> {
  await r.fill(20);
  return header(r, end);
}

/**
 * Calls `visit` for each field of a message. The common case (a header and a skipped payload
 * already buffered) involves no promise at all: a crafted file of millions of tiny fields costs
 * a few tens of nanoseconds each.
 */
async function each(r: Reader, end: number, visit: (f: Field) => Promise<unknown> | undefined): Promise<void> {
  for (;;) {
    let f: Field | undefined | Promise<Field | undefined> = r.available >= 20 || r.exhausted ? header(r, end) : headerLater(r, end);
    if (f instanceof Promise) f = await f;
    if (!f) return;
    const pending = visit(f);
    if (pending) await pending;
  }
}

/** Skips a field's payload; a promise only when the payload runs past the buffered bytes. */
function skip(r: Reader, f: Field): Promise<void> | undefined {
  if (f.wire !== 2 || r.skipNow(f.value)) return undefined;
  return r.skip(f.value);
}

function expectWire(f: Field, wire: number, what: string): void {
  if (f.wire !== wire) throw new MalformedOnnx(`${what} has wire type ${f.wire}`);
}

function message(f: Field): number {
  expectWire(f, 2, `field ${f.number}`);
  return f.end;
}

async function readString(r: Reader, f: Field, max = MAX_STRING): Promise<string> {
  expectWire(f, 2, "a string field");
  if (f.value > max) throw new MalformedOnnx(`a name or entry of ${f.value} bytes (at most ${max})`);
  const from = r.offset;
  const s = utf8.decode(await r.bytes(f.value));
  r.charge(from);
  return s;
}

interface Walk {
  r: Reader;
  external: OnnxInspection["externalData"];
  externalTensors: number;
  signatureBytes: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  initializers: Set<string>;
}

function walkModel(w: Walk, end: number): Promise<void> {
  return each(w.r, end, (f) => {
    if (f.number === 7) return walkGraph(w, message(f), 0, true);
    if (f.number === 25) return walkFunction(w, message(f), 0);
    if (f.number === 20) return walkTraining(w, message(f), 0);
    return skip(w.r, f);
  });
}

function walkGraph(w: Walk, end: number, depth: number, top: boolean): Promise<void> {
  if (depth > MAX_DEPTH) throw new MalformedOnnx(`graphs nested deeper than ${MAX_DEPTH}`);
  return each(w.r, end, (f) => {
    switch (f.number) {
      case 1:
        return walkNode(w, message(f), depth);
      case 5:
        return walkTensor(w, message(f)).then((name) => {
          if (!top || name === undefined) return;
          if (w.initializers.size >= MAX_INITIALIZERS) throw new OnnxTooComplex(`the model has more than ${MAX_INITIALIZERS} initializers`);
          w.initializers.add(name);
        });
      case 15:
        return walkSparse(w, message(f));
      case 11:
      case 12:
        return top ? readSignatureTensor(w, f) : skip(w.r, f);
      default:
        return skip(w.r, f);
    }
  });
}

async function readSignatureTensor(w: Walk, f: Field): Promise<void> {
  expectWire(f, 2, "a graph input or output");
  if (w.inputs.length + w.outputs.length >= MAX_TENSORS) throw new MalformedOnnx("too many inputs and outputs");
  if (f.value > MAX_VALUE_INFO) throw new MalformedOnnx(`an input or output description of ${f.value} bytes`);
  w.signatureBytes += f.value;
  if (w.signatureBytes > MAX_SIGNATURE_BYTES) throw new OnnxTooComplex(`the model's inputs and outputs take more than ${MAX_SIGNATURE_BYTES} bytes to describe`);
  const from = w.r.offset;
  const spec = readValueInfo(await w.r.bytes(f.value));
  w.r.charge(from);
  (f.number === 11 ? w.inputs : w.outputs).push(spec);
}

function walkNode(w: Walk, end: number, depth: number): Promise<void> {
  return each(w.r, end, (f) => (f.number === 5 ? walkAttribute(w, message(f), depth) : skip(w.r, f)));
}

function walkAttribute(w: Walk, end: number, depth: number): Promise<void> {
  return each(w.r, end, (f) => {
    switch (f.number) {
      case 5: // t
      case 10: // tensors
        return walkTensor(w, message(f));
      case 6: // g
      case 11: // graphs
        return walkGraph(w, message(f), depth + 1, false);
      case 22: // sparse_tensor
      case 23: // sparse_tensors
        return walkSparse(w, message(f));
      default:
        return skip(w.r, f);
    }
  });
}

function walkSparse(w: Walk, end: number): Promise<void> {
  return each(w.r, end, (f) => (f.number === 1 || f.number === 2 ? walkTensor(w, message(f)) : skip(w.r, f)));
}

function walkFunction(w: Walk, end: number, depth: number): Promise<void> {
  return each(w.r, end, (f) => (f.number === 7 ? walkNode(w, message(f), depth) : f.number === 11 ? walkAttribute(w, message(f), depth) : skip(w.r, f)));
}

function walkTraining(w: Walk, end: number, depth: number): Promise<void> {
  return each(w.r, end, (f) => (f.number === 1 || f.number === 2 ? walkGraph(w, message(f), depth + 1, false) : skip(w.r, f)));
}

/** Walks one TensorProto, recording it when its data is external; answers its name. */
async function walkTensor(w: Walk, end: number): Promise<string | undefined> {
  let name: string | undefined;
  let external = false;
  let location = "";
  await each(w.r, end, (f) => {
    if (f.number === 8) {
      return readString(w.r, f).then((s) => {
        name = s;
      });
    }
    if (f.number === 14) {
      expectWire(f, 0, "data_location");
      // Only DEFAULT (0) keeps the data in the file; EXTERNAL (1) and anything unknown are refused.
      if (f.value !== 0) external = true;
      return undefined;
    }
    if (f.number === 13) {
      external = true;
      return readEntry(w.r, message(f)).then(([key, value]) => {
        if (key === "location") location = value;
      });
    }
    return skip(w.r, f);
  });
  if (external && w.externalTensors++ < MAX_EXTERNAL_LISTED) w.external.push({ tensor: name ?? "(unnamed)", location });
  return name;
}

/** A StringStringEntryProto: key (1), value (2). */
async function readEntry(r: Reader, end: number): Promise<[string, string]> {
  let key = "";
  let value = "";
  await each(r, end, (f) => {
    if (f.number === 1) {
      return readString(r, f).then((s) => {
        key = s;
      });
    }
    if (f.number === 2) {
      return readString(r, f).then((s) => {
        value = s;
      });
    }
    return skip(r, f);
  });
  return [key, value];
}

// ---- value infos (small, read whole) ----

function* fields(buf: Uint8Array): Generator<{ number: number; varint?: bigint; bytes?: Uint8Array }> {
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
        yield { number, varint: varint() };
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const length = varint();
        if (length > BigInt(buf.length - pos)) throw new MalformedOnnx("length past the end of the message");
        const start = pos;
        pos += Number(length);
        yield { number, bytes: buf.subarray(start, pos) };
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

function readShape(buf: Uint8Array): (number | string | null)[] {
  const dims: (number | string | null)[] = [];
  for (const f of fields(buf)) {
    if (f.number !== 1 || !f.bytes) continue;
    if (dims.length >= MAX_DIMS) throw new MalformedOnnx("too many dimensions");
    let dim: number | string | null = null;
    for (const d of fields(f.bytes)) {
      if (d.number === 1 && d.varint !== undefined) dim = Number(BigInt.asIntN(64, d.varint));
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
 * Reads a model's signature and external-data references from its bytes, chunk by chunk. Graph
 * inputs that are initializers (weights, in models exported with IR version < 4) are left out.
 * Throws MalformedOnnx on bytes that are not an ONNX model, OnnxTooComplex past the bound.
 */
export async function readOnnx(next: ChunkSource, limits: OnnxReadLimits): Promise<OnnxInspection> {
  const r = new Reader(next, limits.maxStructureBytes);
  const w: Walk = { r, external: [], externalTensors: 0, signatureBytes: 0, inputs: [], outputs: [], initializers: new Set() };
  await walkModel(w, TOP);
  if (!w.outputs.length) throw new MalformedOnnx(r.offset === 0 ? "empty file" : "no graph outputs");
  return { inputs: w.inputs.filter((i) => !w.initializers.has(i.name)), outputs: w.outputs, externalData: w.external, externalTensors: w.externalTensors };
}

/** A chunk source over bytes already in memory. */
export function chunksOf(bytes: Uint8Array): ChunkSource {
  let done = false;
  return async () => {
    if (done) return undefined;
    done = true;
    return bytes;
  };
}
