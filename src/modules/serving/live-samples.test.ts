import { describe, expect, it } from "vitest";
import { LiveSamples, decodeSampleSets, encodeSampleSets, monitoredKey, type SampleSet } from "./live-samples.ts";

// The binary body a data-plane process answers /samples/drain with, and what the control plane
// makes of it (the reservoirs themselves are tested with the monitor windows that use them).

function drained(): SampleSet[] {
  const samples = new LiveSamples(() => 0.5);
  const a = { model: "churn", version: "3", environment: "production" };
  const b = { model: "fraud", version: "1", environment: "staging" };
  samples.setMonitored([monitoredKey(a), monitoredKey(b)]);
  samples.answered(a, samples.offer(a, { name: "x", datatype: "FP32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, Number.NaN, 6]) }), [0.25, 0.75], 0.002);
  samples.failed(a, "INVALID_INPUT");
  samples.answered(b, samples.offer(b, { name: "x", datatype: "INT64", shape: [1, 2], data: BigInt64Array.from([7n, 8n]) }), undefined, 0.001);
  return samples.drain();
}

describe("live samples on the wire", () => {
  it("come back from their binary body as they were sent: figures, rows (NaN kept), scores and latencies", () => {
    const sets = drained();
    expect(sets).toHaveLength(2);
    const back = decodeSampleSets(new Uint8Array(encodeSampleSets(sets)));
    expect(back).toEqual(sets);
    expect(Array.from(back[0]!.rows)).toEqual([1, 2, 3, 4, Number.NaN, 6]);
    expect(back[0]!.errorCodes).toEqual({ INVALID_INPUT: 1 });
    expect(Array.from(back[1]!.scores)).toEqual([Number.NaN]);
    // Latencies travel as Float32 too (no JSON numbers in the header).
    expect(Array.from(back[0]!.latencies)).toEqual([Math.fround(0.002)]);
    expect(Array.from(back[1]!.latencies)).toEqual([Math.fround(0.001)]);
    // Nothing drained: an empty list, not an error.
    expect(decodeSampleSets(new Uint8Array(encodeSampleSets([])))).toEqual([]);
  });

  it("are read from a body that does not start on a 4-byte boundary (copied, not viewed)", () => {
    const body = encodeSampleSets(drained());
    const shifted = new Uint8Array(body.length + 1);
    shifted.set(body, 1);
    expect(decodeSampleSets(shifted.subarray(1))).toEqual(drained());
  });

  it("are read from a process of an older Paved, whose body (PVS1) carries the latencies in its header", () => {
    const sets = drained();
    const header = Buffer.from(JSON.stringify(sets.map(({ rows, scores, latencies, ...figures }) => ({ ...figures, rowValues: rows.length, scoreValues: scores.length, latencies: [...latencies] }))));
    const start = (8 + header.length + 3) & ~3;
    const legacy = Buffer.alloc(start + 4 * sets.reduce((n, set) => n + set.rows.length + set.scores.length, 0));
    legacy.write("PVS1", 0, "latin1");
    legacy.writeUInt32LE(header.length, 4);
    header.copy(legacy, 8);
    let at = start;
    for (const values of sets.flatMap((set) => [set.rows, set.scores])) for (const v of values) at = legacy.writeFloatLE(v, at);
    expect(decodeSampleSets(legacy)).toEqual(sets);
  });

  it("refuse a body that is not one, saying what is wrong", () => {
    const body = encodeSampleSets(drained());
    const bad = (bytes: Uint8Array, message: RegExp) => expect(() => decodeSampleSets(bytes)).toThrow(expect.objectContaining({ code: "INVALID_INPUT", message: expect.stringMatching(message) }));
    bad(Buffer.from("{}"), /starts with "PVS2"/);
    const long = Buffer.from(body);
    long.writeUInt32LE(body.length, 4);
    bad(long, /runs past its end/);
    const notJson = Buffer.from(body);
    notJson.write("!", 8);
    bad(notJson, /header is not JSON/);
    bad(body.subarray(0, body.length - 4), /announces \d+ bytes; the body has \d+/);
    bad(Buffer.concat([body, Buffer.alloc(4)]), /announces/);
    const header = Buffer.from(JSON.stringify([{ model: "m" }]));
    const wrong = Buffer.alloc(8 + header.length);
    wrong.write("PVS2", 0, "latin1");
    wrong.writeUInt32LE(header.length, 4);
    header.copy(wrong, 8);
    bad(wrong, /not a list of sample figures/);
    // A width past what serving keeps would make the merge allocate MAX_ROWS × width: refused before any row is read.
    const wide = { ...drained()[0]!, width: 1_025, rows: new Float32Array(1_025), scores: new Float32Array(1) };
    bad(encodeSampleSets([wide]), /not a list of sample figures/);
    // More latencies than a process keeps: refused before any is read.
    const [set] = drained();
    bad(encodeSampleSets([{ ...set!, latencies: new Float32Array(4_001) }]), /not a list of sample figures/);
    // The same bound on an older process's body, whose latencies are JSON in the header.
    const legacyBody = (latencies: number) => {
      const header = Buffer.from(JSON.stringify([{ ...set!, rows: undefined, scores: undefined, rowValues: 0, scoreValues: 0, latencies: new Array(latencies).fill(0.001) }]));
      const body = Buffer.alloc((8 + header.length + 3) & ~3);
      body.write("PVS1", 0, "latin1");
      body.writeUInt32LE(header.length, 4);
      header.copy(body, 8);
      return body;
    };
    expect(decodeSampleSets(legacyBody(4_000))[0]!.latencies).toHaveLength(4_000);
    bad(legacyBody(4_001), /not a list of sample figures/);
  });
});

describe("live samples merged", () => {
  const labels = { model: "churn", version: "3", environment: "production" };
  const withLatencies = (latencies: number[]): SampleSet => ({ ...labels, requests: latencies.length, errors: 0, errorCodes: {}, rowsSeen: 0, rowsDropped: 0, width: 0, latencies: Float32Array.from(latencies), truncated: false, rows: new Float32Array(0), scores: new Float32Array(0) });

  it("keep every latency while there is room, then at most 4,000, each later one replacing a kept one", () => {
    let next = 0;
    const samples = new LiveSamples(() => (next++ % 10) / 10);
    samples.setMonitored([monitoredKey(labels)]);
    samples.absorb([withLatencies([1, 2, 3])]);
    samples.absorb([withLatencies(Array.from({ length: 3_999 }, (_, i) => 10 + i))]);
    const [merged] = samples.drain();
    expect(merged!.requests).toBe(4_002);
    expect(merged!.latencies).toHaveLength(4_000);
    // The first batch whole, then the second's first 3,997 in order; its last two replaced the
    // kept ones the random draws chose (0.0 and 0.1 of 4,000: slots 0 and 400).
    const expected = [1, 2, 3, ...Array.from({ length: 3_997 }, (_, i) => 10 + i)];
    expected[0] = 4_007;
    expected[400] = 4_008;
    expect([...merged!.latencies]).toEqual(expected);
    // The merged latencies are copies: the batch they came from is not changed.
    const batch = withLatencies([0.5]);
    samples.absorb([batch]);
    samples.drain()[0]!.latencies[0] = 9;
    expect([...batch.latencies]).toEqual([0.5]);
  });
});
