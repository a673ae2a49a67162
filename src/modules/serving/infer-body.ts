// The bytes of an OIP infer request and answer on the wire: the body read within
// serving.maxRequestBytes, decompressed (Content-Encoding: gzip or deflate) within the same bound,
// and answers compressed when the client accepts it. What the bytes mean is binary-tensor-data.ts's:
// as in Triton, the framing decides, not Content-Type, which OIP clients send as they please (none:
// tritonclient.http; application/octet-stream: its aio variant; text/plain: a bare fetch). Nothing
// but JSON and binary tensor data is ever parsed.
import type { Readable } from "node:stream";
import { gunzip, gzip, deflate, inflate, inflateRaw, type InputType, type ZlibOptions } from "node:zlib";
import { PlatformError, invalidInput } from "../../core/index.ts";

type Headers = Record<string, string | string[] | undefined>;

/**
 * Reads a request body of at most `limit` bytes on the wire and, once decompressed, at most `limit`
 * bytes again: decompression stops as soon as its output passes the limit, so a small body that
 * inflates to gigabytes (a zip bomb) costs no more than `limit` bytes of memory.
 */
export async function readInferBody(stream: Readable | undefined, headers: Headers, limit: number): Promise<Buffer> {
  const encoding = contentEncoding(headers["content-encoding"]);
  const declared = Number(headers["content-length"]);
  if (declared > limit) throw tooLarge(limit, `${declared} bytes`);
  // No stream: the server saw no body at all (no Content-Type, no length).
  const wire = stream ? await collect(stream, limit) : Buffer.alloc(0);
  if (wire.length === 0) throw invalidInput("the body is empty; send the infer request (JSON, optionally followed by binary tensor data)", { reason: "empty_body" });
  if (encoding === "identity") return wire;
  return decompress(wire, encoding, limit);
}

type Encoding = "identity" | "gzip" | "deflate";

function contentEncoding(value: string | string[] | undefined): Encoding {
  if (value === undefined) return "identity";
  const codings = String(value)
    .split(",")
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== "" && c !== "identity");
  if (codings.length === 0) return "identity";
  if (codings.length === 1 && (codings[0] === "gzip" || codings[0] === "x-gzip")) return "gzip";
  if (codings.length === 1 && codings[0] === "deflate") return "deflate";
  throw new PlatformError("UNSUPPORTED", `Content-Encoding '${String(value)}' is not supported; send the body uncompressed, or compressed once with gzip or deflate`, {
    reason: "content_encoding",
    supported: ["gzip", "deflate", "identity"],
  });
}

/** Collects a stream's bytes, refusing at the first chunk past `limit` (nothing more is kept). */
function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => new BodyReader(stream, limit, resolve, reject).listen());
}

/**
 * collect's state and listeners: methods bound once, not closures. Under tsx (esbuild's keepNames)
 * every named closure is given its name as it is made, which cost more than the reading itself.
 */
class BodyReader {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private readonly onData = this.data.bind(this);
  private readonly onEnd = this.end.bind(this);
  private readonly onError = this.error.bind(this);

  constructor(
    private readonly stream: Readable,
    private readonly limit: number,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  listen(): void {
    this.stream.on("data", this.onData);
    this.stream.on("end", this.onEnd);
    this.stream.on("error", this.onError);
  }

  private stop(): void {
    this.stream.off("data", this.onData);
    this.stream.off("end", this.onEnd);
    this.stream.off("error", this.onError);
  }

  private data(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.stop();
      // The rest is left unread; Node discards it once the answer (413) is sent.
      this.stream.pause();
      this.reject(tooLarge(this.limit, `more than ${this.limit} bytes`));
      return;
    }
    this.chunks.push(chunk);
  }

  private end(): void {
    this.stop();
    this.resolve(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size));
  }

  private error(error: Error): void {
    this.stop();
    this.reject(invalidInput(`the request body could not be read: ${error.message}`, { reason: "body_read" }));
  }
}

type Codec = (buffer: InputType, options: ZlibOptions, callback: (error: Error | null, result: Buffer) => void) => void;

/** zlib's buffer functions stream internally and stop at `maxOutputLength` (ERR_BUFFER_TOO_LARGE): the bound holds while inflating. */
function decompress(wire: Buffer, encoding: "gzip" | "deflate", limit: number): Promise<Buffer> {
  // HTTP's deflate is the zlib format; some clients send raw deflate, which has no zlib header.
  const codec: Codec = encoding === "gzip" ? gunzip : hasZlibHeader(wire) ? inflate : inflateRaw;
  return new Promise((resolve, reject) => {
    codec(wire, { maxOutputLength: limit }, (error, result) => {
      if (!error) {
        if (result.length === 0) reject(invalidInput("the body decompresses to nothing; send the infer request", { reason: "empty_body" }));
        else resolve(result);
      } else if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
        reject(tooLarge(limit, `more than ${limit} bytes once decompressed`));
      } else {
        reject(invalidInput(`the body is not valid ${encoding} data (Content-Encoding: ${encoding}): ${error.message}; compress the whole body once, or send it uncompressed`, { reason: "content_encoding_data" }));
      }
    });
  });
}

function hasZlibHeader(data: Buffer): boolean {
  return data.length >= 2 && (data[0]! & 0x0f) === 8 && ((data[0]! << 8) | data[1]!) % 31 === 0;
}

function tooLarge(limit: number, size: string): PlatformError {
  return new PlatformError(
    "PAYLOAD_TOO_LARGE",
    `the infer request is ${size}, above this server's limit of ${limit} bytes (serving.maxRequestBytes, compressed or not); send fewer rows per request, or ask an admin to raise serving.maxRequestBytes`,
    { limit, setting: "serving.maxRequestBytes" },
  );
}

/** Answers smaller than this go uncompressed whatever the client accepts: compressing them costs more than it saves. */
export const COMPRESS_FROM_BYTES = 1024;

/**
 * The coding to answer with, from Accept-Encoding: gzip before deflate, none unless accepted
 * with a non-zero quality (tritonclient asks with `response_compression_algorithm`).
 */
export function acceptedEncoding(value: string | string[] | undefined): "gzip" | "deflate" | undefined {
  if (value === undefined) return undefined;
  const accepted = new Set<string>();
  for (const part of String(value).split(",")) {
    const [coding, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    if (coding && !(q && Number(q.slice(2)) === 0)) accepted.add(coding);
  }
  if (accepted.has("gzip") || accepted.has("x-gzip")) return "gzip";
  if (accepted.has("deflate")) return "deflate";
  return undefined;
}

/** Compresses an answer on libuv's thread pool, off the event loop. */
export function compress(body: Buffer, encoding: "gzip" | "deflate"): Promise<Buffer> {
  return new Promise((resolve, reject) => (encoding === "gzip" ? gzip : deflate)(body, (error, result) => (error ? reject(error) : resolve(result))));
}
