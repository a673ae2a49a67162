// Triton's binary tensor data extension (docs/protocol/extension_binary_data.md in
// triton-inference-server/server), which tritonclient.http uses by default: a request or answer
// body is its JSON object followed by the bytes of some tensors (little-endian, row-major, BOOL one
// byte each), in the order the JSON lists them; the Inference-Header-Content-Length header gives
// the JSON's length. A binary input's bytes reach the model as one copy, with no number parsing.
import { PlatformError, invalidInput, parseInput } from "../../core/index.ts";
import { InferRequest, isPlainInferRequest } from "./schema.ts";
import type { InferResult } from "./service.ts";
import { toBinaryData, toJsonData } from "./tensor.ts";

/** The request and answer header that gives the length of the JSON object before the binary data. */
export const INFERENCE_HEADER = "Inference-Header-Content-Length";
const INFERENCE_HEADER_FIELD = INFERENCE_HEADER.toLowerCase();

/** The protocol extensions this server implements, as Triton names them in server metadata. */
export const EXTENSIONS = ["binary_tensor_data", "model_configuration", "statistics"] as const;

type Headers = Record<string, string | string[] | undefined>;

/**
 * Turns an infer body into a checked request: JSON alone, or (with Inference-Header-Content-Length)
 * a JSON header whose inputs with `parameters.binary_data_size` take their bytes, in order, from
 * what follows it. A binary input's `data` is then its bytes (a view into `body`, read once by the
 * service); the sizes must account for every byte after the header, exactly.
 */
export function decodeInferRequest(body: Buffer, headers: Headers): InferRequest {
  const headerLength = parseHeaderLength(headers[INFERENCE_HEADER_FIELD], body.length);
  const json = headerLength === undefined ? body : body.subarray(0, headerLength);
  let raw: unknown;
  try {
    raw = JSON.parse(json.toString("utf8"));
  } catch {
    throw invalidInput(
      headerLength === undefined
        ? `the body is not valid JSON; send the infer request as JSON, or, for binary tensor data, send the ${INFERENCE_HEADER} header with the length of the JSON before the tensors' bytes`
        : `the first ${headerLength} bytes of the body (${INFERENCE_HEADER}) are not valid JSON; give the byte length of the JSON header, which comes before the tensors' bytes`,
      { reason: "invalid_json" },
    );
  }
  const request = isPlainInferRequest(raw) ? raw : parseInput(InferRequest, raw, "request body");
  checkOutputs(request);
  let offset = headerLength ?? body.length;
  for (const input of request.inputs) {
    const parameters = input.parameters;
    if (parameters?.shared_memory_region !== undefined) throw sharedMemory(`input '${input.name}'`);
    const size = parameters?.binary_data_size;
    if (size === undefined) {
      if (input.data === undefined) {
        throw invalidInput(`input '${input.name}' has no data; give its values in 'data', or its bytes after the JSON header with parameters.binary_data_size (binary tensor data)`, { reason: "missing_data", input: input.name });
      }
      continue;
    }
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
      throw invalidInput(`input '${input.name}': parameters.binary_data_size is ${JSON.stringify(size)}; give the byte length of its binary data, a non-negative integer`, { reason: "binary_data_size", input: input.name });
    }
    if (input.data !== undefined) {
      throw invalidInput(`input '${input.name}' has both 'data' and parameters.binary_data_size; send its values one way: JSON 'data', or binary data after the JSON header`, { reason: "data_and_binary", input: input.name });
    }
    if (headerLength === undefined) {
      throw invalidInput(`input '${input.name}' has parameters.binary_data_size, but the request has no ${INFERENCE_HEADER} header; send it with the byte length of the JSON before the tensors' bytes`, {
        reason: "missing_header",
        input: input.name,
      });
    }
    if (offset + size > body.length) throw sizesMismatch(request, headerLength, body.length);
    input.data = body.subarray(offset, offset + size);
    offset += size;
  }
  if (offset !== body.length) throw sizesMismatch(request, headerLength!, body.length);
  return request;
}

/** The header's value: a byte count no larger than the body; 0 (a raw binary request) is refused with its fix. */
function parseHeaderLength(value: string | string[] | undefined, bodyLength: number): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(",") : value;
  if (!/^\s*\d{1,15}\s*$/.test(text)) {
    throw invalidInput(`${INFERENCE_HEADER} is '${text}'; give the byte length of the JSON header, a non-negative integer (once)`, { reason: "header_length" });
  }
  const length = Number(text);
  if (length === 0) {
    throw new PlatformError(
      "UNSUPPORTED",
      `${INFERENCE_HEADER}: 0 (a raw binary request, without JSON) is not supported; send the JSON header naming the input, its shape and datatype, with parameters.binary_data_size, before the tensor's bytes`,
      { reason: "raw_binary_request" },
    );
  }
  if (length > bodyLength) {
    throw invalidInput(`${INFERENCE_HEADER} is ${length}, but the body holds ${bodyLength} bytes (after decompression); give the byte length of the JSON header, which the body starts with`, {
      reason: "header_length",
      headerLength: length,
      bodyLength,
    });
  }
  return length;
}

function sizesMismatch(request: InferRequest, headerLength: number, bodyLength: number): PlatformError {
  const sizes = request.inputs.filter((i) => i.parameters?.binary_data_size !== undefined).map((i) => `${i.name}: ${String(i.parameters!.binary_data_size)}`);
  const after = bodyLength - headerLength;
  return invalidInput(
    `the body holds ${after} bytes after its ${headerLength}-byte JSON header, but the inputs' binary_data_size add up to ${sizes.length ? sizes.join(", ") : "nothing"}; send exactly the bytes the sizes give, in the order of the inputs`,
    { reason: "binary_size_total", bytesAfterHeader: after },
  );
}

/** Checks the outputs' parameters this server reads, and refuses those of extensions it does not implement. */
function checkOutputs(request: InferRequest): void {
  const all = request.parameters?.binary_data_output;
  if (all !== undefined && typeof all !== "boolean") {
    throw invalidInput(`parameters.binary_data_output is ${JSON.stringify(all)}; give true (every output as binary tensor data) or false`, { reason: "binary_data_output" });
  }
  for (const output of request.outputs ?? []) {
    const parameters = output.parameters;
    if (!parameters) continue;
    if (parameters.binary_data !== undefined && typeof parameters.binary_data !== "boolean") {
      throw invalidInput(`output '${output.name}': parameters.binary_data is ${JSON.stringify(parameters.binary_data)}; give true (binary tensor data) or false (JSON)`, { reason: "binary_data", output: output.name });
    }
    if (parameters.shared_memory_region !== undefined) throw sharedMemory(`output '${output.name}'`);
    if (parameters.classification !== undefined) {
      throw new PlatformError(
        "UNSUPPORTED",
        `output '${output.name}' asks for parameters.classification: the classification extension is not supported by this server; ask for the output itself and take its top classes on the client (server metadata lists the extensions: ${EXTENSIONS.join(", ")})`,
        { reason: "extension", extension: "classification" },
      );
    }
  }
}

function sharedMemory(what: string): PlatformError {
  return new PlatformError(
    "UNSUPPORTED",
    `${what} names a shared-memory region: the system and CUDA shared-memory extensions are not supported by this server (it may run on another machine than its clients); send the tensor in the body, as binary tensor data (server metadata lists the extensions: ${EXTENSIONS.join(", ")})`,
    { reason: "extension", extension: "shared_memory" },
  );
}

/** An answer ready for the wire: a JSON object, or JSON header and binary tensor data in one body. */
export type EncodedAnswer = { kind: "json"; json: object } | { kind: "binary"; body: Buffer; headerLength: number };

/**
 * Writes an answer as the request asked: an output goes as binary tensor data when its
 * `parameters.binary_data` says so, or, when it says nothing, when the request's
 * `parameters.binary_data_output` does (tritonclient sets the latter when it names no outputs).
 */
export function encodeInferAnswer(result: InferResult, request: InferRequest): EncodedAnswer {
  const asked = new Map<string, unknown>();
  for (const output of request.outputs ?? []) asked.set(output.name, output.parameters?.binary_data);
  const all = request.parameters?.binary_data_output === true;
  const binary: Uint8Array[] = [];
  const outputs = result.outputs.map((o) => {
    const own = asked.get(o.name);
    if (own === true || (own === undefined && all)) {
      const bytes = toBinaryData(o);
      binary.push(bytes);
      return { name: o.name, datatype: o.datatype, shape: o.shape, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { name: o.name, datatype: o.datatype, shape: o.shape, data: toJsonData(o) };
  });
  const json = { model_name: result.model_name, model_version: result.model_version, id: result.id, outputs };
  if (binary.length === 0) return { kind: "json", json };
  const header = Buffer.from(JSON.stringify(json));
  return { kind: "binary", body: Buffer.concat([header, ...binary]), headerLength: header.length };
}
