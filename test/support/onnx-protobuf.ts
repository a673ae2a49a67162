// Hand-built ONNX models for tests of what exporters never write: external data, crafted graphs.
// A tiny protobuf writer: a message is a list of fields, each a varint or length-delimited bytes.

type FieldValue = number | bigint | string | Uint8Array | Field[];
export type Field = [number, FieldValue];

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? byte | 0x80 : byte);
  } while (v);
  return out;
}

/** Encodes a message: numbers are varints (wire type 0), strings, bytes and sub-messages length-delimited. */
export function encode(fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const [number, value] of fields) {
    if (typeof value === "number" || typeof value === "bigint") {
      parts.push(Buffer.from([...varint(number << 3), ...varint(value)]));
      continue;
    }
    const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value instanceof Uint8Array ? Buffer.from(value) : encode(value);
    parts.push(Buffer.from([...varint((number << 3) | 2), ...varint(bytes.length)]), bytes);
  }
  return Buffer.concat(parts);
}

const FLOAT = 1;
const UINT8 = 2;

/** ValueInfoProto of a tensor: name, element type, fixed shape. */
export function valueInfo(name: string, elemType: number, dims: number[]): Field[] {
  return [
    [1, name],
    [2, [[1, [[1, elemType], [2, dims.map((d): Field => [1, [[1, d]]])]]]]],
  ];
}

/** ModelProto around a graph (IR version 7, opset 13). */
export function model(graph: Field[]): Buffer {
  return encode([
    [1, 7],
    [2, "paved-test"],
    [7, graph],
    [8, [[2, 13]]],
  ]);
}

/**
 * The review's model: one uint8 initializer `w` of `length` bytes whose data lives in an external
 * file `location` (relative paths resolve against onnxruntime's working directory when a model
 * is loaded from bytes), and an Identity that outputs it as `y`.
 */
export function externalDataOnnx(location: string, length: number, where: "initializer" | "constant" | "subgraph" = "initializer"): Buffer {
  const tensor = (name: string): Field[] => [
    [1, length],
    [2, UINT8],
    [8, name],
    [13, [[1, "location"], [2, location]]],
    [13, [[1, "length"], [2, String(length)]]],
    [14, 1],
  ];
  const identity = (input: string, output: string): Field => [1, [[1, input], [2, output], [4, "Identity"]]];
  const output: Field = [12, valueInfo("y", UINT8, [length])];
  if (where === "initializer") return model([[5, tensor("w")], identity("w", "y"), [2, "g"], output]);
  // A Constant node whose `value` attribute (AttributeProto.t, type TENSOR = 4) is external.
  const constant: Field = [1, [[2, "w"], [4, "Constant"], [5, [[1, "value"], [20, 4], [5, tensor("value")]]]]];
  if (where === "constant") return model([constant, identity("w", "y"), [2, "g"], output]);
  // The same Constant inside an If's then/else branches (AttributeProto.g, type GRAPH = 5).
  const branch = (name: string): Field[] => [constant, [2, name], [12, valueInfo("w", UINT8, [length])]];
  const cond: Field = [5, [[1, 1], [2, 9], [8, "c"], [9, new Uint8Array([1])]]];
  const ifNode: Field = [1, [[1, "c"], [2, "y"], [4, "If"], [5, [[1, "then_branch"], [20, 5], [6, branch("then")]]], [5, [[1, "else_branch"], [20, 5], [6, branch("else")]]]]];
  return model([cond, ifNode, [2, "g"], output]);
}

/**
 * A valid model padded with `bytes` of tiny graph fields (repeated empty `doc_string`s, two bytes
 * each): what a crafted upload looks like to a reader that walks every field.
 */
export function paddedOnnx(bytes: number): Buffer {
  const base = encode([
    [5, [[1, 1], [2, FLOAT], [8, "w"], [9, new Uint8Array(4)]]],
    [1, [[1, "w"], [2, "y"], [4, "Identity"]]],
    [2, "g"],
    [12, valueInfo("y", FLOAT, [1])],
  ]);
  const padding = Buffer.alloc(bytes - (bytes % 2));
  for (let i = 0; i < padding.length; i += 2) padding[i] = (10 << 3) | 2;
  return encode([[1, 7], [2, "paved-test"], [7, Buffer.concat([base, padding])], [8, [[2, 13]]]]);
}
