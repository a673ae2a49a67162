// The fleet's take of live samples when a data-plane process answers it badly (c47cdb3): the
// failure is logged once per reason, costs the monitors that second's samples, and never the
// process its place in routing. The data-plane process here is a STAND-IN: a node:http server
// speaking the internal protocol (GET and PUT /state, POST /windows/drain, POST /samples/drain), because a
// real process never answers the samples take with a 500 or a body that is not samples. The
// success path through real processes is in test/dataplane.test.ts and test/monitoring-story.test.ts.
import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DeploymentRouter } from "../modules/deployments/index.ts";
import { encodeSampleSets, LiveSamples, monitoredKey } from "../modules/serving/index.ts";
import { DataPlaneFleet } from "./fleet.ts";
import { INTERNAL_PREFIX } from "./protocol.ts";

const SECRET = "stand-in-secret";
const LABELS = { model: "mlp", version: "1", environment: "production" };
const KEY = monitoredKey(LABELS);

/** One second's samples as a real process drains them: `requests` one-row requests of 3 features. */
function samplesBody(requests: number): Buffer {
  const samples = new LiveSamples();
  samples.setMonitored([KEY]);
  for (let i = 0; i < requests; i++) samples.answered(LABELS, samples.offer(LABELS, { name: "x", datatype: "FP32", shape: [1, 3], data: Float32Array.from([i, 1, 2]) }), [0.5], 0.001);
  return encodeSampleSets(samples.drain());
}

type Mode = "samples" | "500" | "not samples";

/** The stand-in process: applies every push, reports no windows, and answers the samples take as `mode` says. */
async function standIn(): Promise<{ server: Server; url: string; mode: Mode; takes: number }> {
  const state = { server: undefined as unknown as Server, url: "", mode: "samples" as Mode, takes: 0 };
  let revision = 0;
  state.server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.headers.authorization !== `Bearer ${SECRET}`) return void res.writeHead(401).end();
    const json = (value: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
    switch (`${req.method} ${req.url}`) {
      case `GET ${INTERNAL_PREFIX}/state`:
        // A process that has applied nothing yet: the fleet adopts an empty state.
        return json({ index: 0, revision, missing: [], views: [], failures: [], state: { revision, models: [], splits: [], replicaRoom: {}, monitored: [] } });
      case `PUT ${INTERNAL_PREFIX}/state`: {
        const desired = JSON.parse(body) as { revision: number };
        revision = desired.revision;
        return json({ index: 0, revision, missing: [], views: [], failures: [], state: { monitored: [], ...desired } });
      }
      case `POST ${INTERNAL_PREFIX}/windows/drain`:
        return json({ revision, views: [], reports: [] });
      case `POST ${INTERNAL_PREFIX}/samples/drain`:
        state.takes++;
        if (state.mode === "500") return void res.writeHead(500, { "content-type": "text/plain" }).end("boom");
        if (state.mode === "not samples") return void res.writeHead(200, { "content-type": "application/octet-stream" }).end("JSON{}");
        return void res.writeHead(200, { "content-type": "application/octet-stream" }).end(samplesBody(7));
      default:
        return void res.writeHead(404).end();
    }
  });
  state.server.listen(0, "127.0.0.1");
  await once(state.server, "listening");
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`;
  return state;
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the fleet's take of live samples", () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("logs a failed take once per reason and loses only those samples, never the process its place in routing", async () => {
    const process0 = await standIn();
    cleanups.push(async () => process0.server.close());
    const warnings: { reason?: string; msg: string }[] = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const fleet = new DataPlaneFleet({
      members: () => [{ index: 0, url: process0.url, secret: SECRET }],
      router: new DeploymentRouter(() => false),
      blobsDir: join(mkdtempSync(join(tmpdir(), "paved-fleet-")), "models"),
      limits: { maxOutputBytes: 1 << 20, maxReplicasPerVersion: 4, maxModelBytes: 1 << 20 },
      logger,
      intervalMs: 50,
    });
    cleanups.push(() => fleet.stop());
    fleet.setMonitored([KEY]);
    fleet.start();
    const live = () => fleet.members().every((m) => m.live && m.lastError === undefined) && fleet.members().length === 1;

    // A good answer: the process's samples reach the monitors.
    await until("a take of samples", () => process0.takes >= 1);
    // Not drained, a take is not taken again (the process keeps sampling meanwhile): the fleet holds one per process.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(process0.takes).toBe(1);
    await until("the samples taken", () => fleet.drainSamples().some((s) => s.requests === 7));
    await until("a second take's samples, once the first was drained", () => fleet.drainSamples().some((s) => s.requests === 7));
    expect(process0.takes).toBe(2);

    // Three takes that answer 500: one warning, no samples, the process still live.
    process0.mode = "500";
    const from500 = process0.takes;
    await until("three failed takes", () => process0.takes >= from500 + 3);
    expect(live()).toBe(true);
    expect(fleet.drainSamples().filter((s) => s.requests > 0)).toEqual([]);
    const taken = warnings.filter((w) => w.msg === "a data-plane process's live samples were not taken");
    expect(taken.map((w) => w.reason)).toEqual(["it answered 500: boom"]);

    // A body that is not samples: refused with what is wrong, logged once more (a new reason).
    process0.mode = "not samples";
    const fromBad = process0.takes;
    await until("two refused bodies", () => process0.takes >= fromBad + 2);
    expect(live()).toBe(true);
    expect(fleet.drainSamples().filter((s) => s.requests > 0)).toEqual([]);
    const refused = warnings.filter((w) => w.msg === "a data-plane process's live samples were not taken").slice(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toContain("starts with");

    // Good answers again: samples flow, and nothing more is logged.
    process0.mode = "samples";
    await until("the samples merged again", () => fleet.drainSamples().some((s) => s.requests === 7));
    expect(live()).toBe(true);
    expect(warnings.filter((w) => w.msg === "a data-plane process's live samples were not taken")).toHaveLength(2);
    expect(warnings.filter((w) => w.msg === "a data-plane process does not answer")).toEqual([]);
  }, 30_000);
});
