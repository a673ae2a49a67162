import { Readable } from "node:stream";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { acceptedEncoding, readInferBody } from "./infer-body.ts";

const LIMIT = 64 * 1024;
const body = Buffer.from(JSON.stringify({ inputs: [{ name: "x", shape: [1], datatype: "FP32", data: [1] }] }));
/** The body in chunks, as a socket delivers it. */
const stream = (data: Buffer) => Readable.from([data.subarray(0, 5), data.subarray(5)]);

describe("readInferBody", () => {
  it.each([
    ["identity", body, {}],
    ["gzip", gzipSync(body), { "content-encoding": "gzip" }],
    ["x-gzip", gzipSync(body), { "content-encoding": "x-gzip" }],
    ["deflate (zlib, as HTTP means it)", deflateSync(body), { "content-encoding": "deflate" }],
    ["deflate (raw, as some clients send it)", deflateRawSync(body), { "content-encoding": "Deflate" }],
  ])("reads %s bodies", async (_what, wire, headers) => {
    expect(await readInferBody(stream(wire), headers, LIMIT)).toEqual(body);
  });

  it("refuses bodies past the limit on the wire (by Content-Length, and as they arrive) and once inflated", async () => {
    const big = Buffer.alloc(LIMIT + 1, 0x20);
    await expect(readInferBody(stream(big), { "content-length": String(big.length) }, LIMIT)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { setting: "serving.maxRequestBytes" } });
    await expect(readInferBody(stream(big), {}, LIMIT)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    // 16 MiB of spaces in 16 KB of gzip: refused once the first LIMIT bytes are out, never inflated whole.
    const chunk = gzipSync(Buffer.alloc(16 * 1024 ** 2, 0x20));
    expect(chunk.length).toBeLessThan(LIMIT);
    await expect(readInferBody(stream(chunk), { "content-encoding": "gzip" }, LIMIT)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(readInferBody(stream(deflateSync(Buffer.alloc(LIMIT + 1))), { "content-encoding": "deflate" }, LIMIT)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(await readInferBody(stream(gzipSync(Buffer.alloc(LIMIT, 0x20))), { "content-encoding": "gzip" }, LIMIT)).toHaveLength(LIMIT);
  });

  it.each([
    ["an empty body", Buffer.alloc(0), {}, "INVALID_INPUT"],
    ["no body at all", undefined, {}, "INVALID_INPUT"],
    ["a body that is not the gzip it says", body, { "content-encoding": "gzip" }, "INVALID_INPUT"],
    ["a truncated gzip body", gzipSync(body).subarray(0, 20), { "content-encoding": "gzip" }, "INVALID_INPUT"],
    ["an encoding other than gzip and deflate", body, { "content-encoding": "br" }, "UNSUPPORTED"],
    ["two encodings", gzipSync(gzipSync(body)), { "content-encoding": "gzip, gzip" }, "UNSUPPORTED"],
  ])("refuses %s", async (_what, wire, headers, code) => {
    await expect(readInferBody(wire && stream(wire), headers, LIMIT)).rejects.toMatchObject({ code });
  });
});

describe("acceptedEncoding", () => {
  it.each([
    [undefined, undefined],
    ["gzip", "gzip"],
    ["deflate", "deflate"],
    ["gzip, deflate", "gzip"],
    ["deflate, gzip;q=0", "deflate"],
    ["br", undefined],
    ["identity", undefined],
  ])("%s → %s", (header, want) => {
    expect(acceptedEncoding(header)).toBe(want);
  });
});
