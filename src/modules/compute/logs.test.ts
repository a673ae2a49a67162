import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { FollowSlots } from "./log-bounds.ts";
import { TEST_ADMIN_TOKEN as ADMIN, createComputeTestServer } from "../../../test/support/compute-server.ts";

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A listening server with the compute routes and the given log bounds (follows need a real connection). */
async function serve(logs: { maxFollowsPerPrincipal?: number; maxFollows?: number; maxFollowSeconds?: number; maxReadBytes?: number }) {
  const { server, close } = await createComputeTestServer({ gpus: [], cpus: 8, memoryMiB: 8192, logs });
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  closers.push(close);
  const workingDir = mkdtempSync(join(tmpdir(), "paved-logs-"));
  const get = (path: string, signal?: AbortSignal) => fetch(url + path, { headers: { authorization: `Bearer ${ADMIN}` }, signal });
  const submit = async (command: string[]) => {
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "talker", workingDir, command, hyperparameterArgs: false, compute: { cpus: 1, memory: 64 } }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { id: string };
  };
  const phase = async (id: string) => ((await (await get(`/api/v1/jobs/${id}`)).json()) as { phase: string }).phase;
  return { workingDir, get, submit, phase };
}

/** A job printing a line every 50 ms until `gate` exists. */
function talker(gate: string): string[] {
  return [process.execPath, "-e", `let i = 0; const t = setInterval(() => { console.log("tick " + i++); if (require("fs").existsSync(${JSON.stringify(gate)})) clearInterval(t); }, 50)`];
}

describe("job log bounds", () => {
  it("refuses a follow past the per-token bound with QUOTA_EXCEEDED, and frees the slot when a follow ends", async () => {
    const server = await serve({ maxFollowsPerPrincipal: 2, maxFollows: 10 });
    const gate = join(server.workingDir, "gate-1");
    const job = await server.submit(talker(gate));
    const aborts = [new AbortController(), new AbortController()];
    for (const abort of aborts) {
      const res = await server.get(`/api/v1/jobs/${job.id}/logs?follow=true`, abort.signal);
      expect(res.status).toBe(200);
      await res.body!.getReader().read();
    }
    const refused = await server.get(`/api/v1/jobs/${job.id}/logs?follow=true`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("QUOTA_EXCEEDED");
    // Reads without follow are not follows.
    const read = await server.get(`/api/v1/jobs/${job.id}/logs`);
    expect(read.status).toBe(200);
    await read.text();
    aborts[0]!.abort();
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      const res = await server.get(`/api/v1/jobs/${job.id}/logs?follow=true`, aborts[1]!.signal);
      status = res.status;
      if (status !== 200) {
        await res.text();
        await sleep(50);
      }
    }
    expect(status).toBe(200);
    aborts[1]!.abort();
    writeFileSync(gate, "");
  });

  it("ends a follow after maxFollowSeconds while the job still runs, saying how to go on", async () => {
    const server = await serve({ maxFollowSeconds: 1 });
    const gate = join(server.workingDir, "gate-2");
    const job = await server.submit(talker(gate));
    const text = await (await server.get(`/api/v1/jobs/${job.id}/logs?follow=true`)).text();
    expect(text).toMatch(/^tick 0\n/);
    expect(text).toContain("follow ended after 1s (compute.logs.maxFollowSeconds)");
    expect(await server.phase(job.id)).toBe("RUNNING");
    writeFileSync(gate, "");
  });

  it("reads at most maxReadBytes without follow: the end of the log by default, paged with offset", async () => {
    const server = await serve({ maxReadBytes: 1024 });
    const job = await server.submit([process.execPath, "-e", 'for (let i = 0; i < 300; i++) console.log("line " + String(i).padStart(4, "0"))']);
    for (let i = 0; i < 200 && (await server.phase(job.id)) !== "SUCCEEDED"; i++) await sleep(50);
    const size = 300 * "line 0000\n".length;
    const tail = await server.get(`/api/v1/jobs/${job.id}/logs`);
    const text = await tail.text();
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1024);
    expect(text).toMatch(/^line \d{4}\n/);
    expect(text.endsWith("line 0299\n")).toBe(true);
    expect(tail.headers.get("x-paved-log-size")).toBe(String(size));
    expect(tail.headers.get("x-paved-log-end")).toBe(String(size));
    const first = await server.get(`/api/v1/jobs/${job.id}/logs?offset=0&limitBytes=100`);
    expect(await first.text()).toBe(Array.from({ length: 10 }, (_, i) => `line ${String(i).padStart(4, "0")}\n`).join(""));
    expect(first.headers.get("x-paved-log-end")).toBe("100");
    const next = await server.get(`/api/v1/jobs/${job.id}/logs?offset=100&limitBytes=10`);
    expect(await next.text()).toBe("line 0010\n");
    const tooBig = await server.get(`/api/v1/jobs/${job.id}/logs?limitBytes=4096`);
    expect(tooBig.status).toBe(400);
    expect(((await tooBig.json()) as { error: { code: string } }).error.code).toBe("INVALID_INPUT");
  });
});

describe("FollowSlots", () => {
  it("bounds follows per principal and in total, and a release is counted once", () => {
    const slots = new FollowSlots({ maxFollowsPerPrincipal: 2, maxFollows: 3 });
    const code = (fn: () => unknown) => {
      try {
        fn();
        return "ok";
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    const a1 = slots.acquire("alice");
    slots.acquire("alice");
    expect(code(() => slots.acquire("alice"))).toBe("QUOTA_EXCEEDED");
    slots.acquire("bob");
    expect(code(() => slots.acquire("carol"))).toBe("QUOTA_EXCEEDED");
    a1();
    a1();
    expect(slots.open).toBe(2);
    expect(code(() => slots.acquire("carol"))).toBe("ok");
    expect(code(() => slots.acquire("dave"))).toBe("QUOTA_EXCEEDED");
  });
});
