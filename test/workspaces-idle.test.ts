// Issue 9, item 5: idle workspaces give their resources back — by kernel activity, and by real GPU
// use (nvidia-smi, played from a real H200's output) even while a kernel idles — after a warning,
// with the home folder kept so that `start` brings the workspace back as it was. Limits are tiny
// here (seconds) so that the test sees the culls; nothing is asserted about how long anything took.
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { KernelClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { pollUntil } from "./support/poll.ts";

// Each test starts Jupyter servers and kernels: in the full suite on two cores that takes many times
// its figure alone, so the limit is above pollUntil's deadline (whose failure names what never happened).
vi.setConfig({ testTimeout: 200_000, hookTimeout: 200_000 });

const FIXTURES = join(import.meta.dirname, "fixtures/nvidia-smi-h200");

describe.each(testDialects())("idle workspaces are stopped and come back (%s)", (dialect) => {
  let app: App;
  let url: string;
  let admin: { authorization: string };
  const root = mkdtempSync(join(tmpdir(), "paved-ws-idle-"));
  const reading = join(root, "nvidia-smi.csv");
  const setGpu = (state: "busy" | "idle") => copyFileSync(join(FIXTURES, `query-gpu-${state}.csv`), reading);

  const call = (method: "GET" | "POST" | "PUT" | "DELETE", path: string, payload?: unknown) =>
    app.server.inject({ method, url: path, headers: admin, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const until = (id: string, phase: string) =>
    pollUntil(`workspace ${id} reaching ${phase}`, async () => (await call("GET", `/api/v1/workspaces/${id}`)).json() as WorkspaceView, (ws) => ws.phase === phase, {
      fail: (ws) => (ws.phase === "FAILED" ? `it failed: ${ws.message}` : undefined),
    });
  async function proxied(method: string, path: string, body?: unknown): Promise<{ status: number; json: () => unknown }> {
    const res = await fetch(`${url}${path}`, { method, headers: { ...admin, ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    return { status: res.status, json: () => JSON.parse(text) };
  }

  beforeAll(async () => {
    const nvidiaSmi = join(root, "nvidia-smi");
    writeFileSync(nvidiaSmi, `#!/bin/sh\ncat '${reading}'\n`);
    chmodSync(nvidiaSmi, 0o755);
    setGpu("busy");
    const databaseUrl = dialect === "postgres" ? await testPostgresUrl() : undefined;
    app = await createApp(
      loadConfig({
        env: {},
        overrides: {
          dataDir: join(root, `data-${dialect}`),
          port: 0,
          logLevel: "silent",
          compute: { gpus: "auto", nvidiaSmi, cpus: 8, memoryMiB: 32768, python: "/nonexistent/python3" },
          workspaces: {
            intervalSeconds: 0.2,
            idle: { idleMinutes: 60, gpuIdleMinutes: 60, warnMinutes: 0.01, ttlHours: 24 },
            profiles: { "gpu-1": { gpuIdleMinutes: 0.03 } },
          },
          guardrails: { budgets: { intervalSeconds: 0.1 } },
          ...(databaseUrl ? { databaseUrl } : {}),
        },
      }),
      { env: { PATH: process.env.PATH } },
    );
    url = await app.listen();
    admin = { authorization: `Bearer ${app.generatedAdminToken}` };
  });
  afterAll(async () => {
    await app?.close();
  });

  it("a GPU workspace whose GPU sits at 0% is stopped even while its kernel idles, after a warning, and starts again with its files", async () => {
    const created = (await call("POST", "/api/v1/workspaces", { name: "gpu-eda", profile: "gpu-1" })).json() as WorkspaceView;
    const running = await until(created.id, "RUNNING");
    expect(running.gpus).toEqual([0]);
    const base = `/workspaces/${running.id}/`;
    const kernelId = ((await proxied("POST", `${base}api/kernels`, {})).json() as { id: string }).id;
    const kernel = await KernelClient.open({ url }, base, kernelId, admin);
    try {
      // Pinned: the kernel sees only the GPU the scheduler gave the workspace.
      expect((await kernel.execute("import os; print(os.environ['CUDA_VISIBLE_DEVICES'])")).stdout.trim()).toBe("0");
    } finally {
      kernel.close();
    }
    expect((await proxied("PUT", `${base}api/contents/model.py`, { type: "file", format: "text", content: "print('kept')" })).status).toBe(201);
    setGpu("idle");
    const stopped = await until(running.id, "STOPPED");
    expect(stopped.message).toMatch(/^culled: its GPUs sat at 0%/);
    const types = stopped.events.map((e) => e.type);
    expect(types.indexOf("IdleWarning")).toBeGreaterThan(-1);
    expect(types.indexOf("IdleWarning")).toBeLessThan(types.lastIndexOf("Stopped"));
    // Its GPU went back to the machine.
    expect((await call("GET", "/api/v1/compute/resources")).json().free.gpus).toBe(1);
    setGpu("busy");
    expect((await call("POST", `/api/v1/workspaces/${running.id}/start`)).statusCode).toBe(200);
    await until(running.id, "RUNNING");
    const file = await proxied("GET", `${base}api/contents/model.py?content=1`);
    expect((file.json() as { content: string }).content).toBe("print('kept')");
    await call("DELETE", `/api/v1/workspaces/${running.id}`);
  });

  it("a workspace whose job is cancelled, by an admin or by its team's budget, is STOPPED with the reason and its home kept, not FAILED", async () => {
    // cpu-large: no tiny idle limit here, so only the cancel and the budget stop it.
    const created = (await call("POST", "/api/v1/workspaces", { name: "spender", profile: "cpu-large" })).json() as WorkspaceView;
    const running = await until(created.id, "RUNNING");
    expect((await call("POST", `/api/v1/jobs/${running.jobId}/cancel`)).statusCode).toBe(200);
    const cancelled = await until(running.id, "STOPPED");
    expect(cancelled.message).toMatch(new RegExp(`^its job ${running.jobId} was cancelled`));

    expect((await call("POST", `/api/v1/workspaces/${running.id}/start`)).statusCode).toBe(200);
    const again = await until(running.id, "RUNNING");
    // Whatever it has spent is past this budget: its stop threshold stops the team's work.
    expect((await call("PUT", `/api/v1/budgets/${again.team}`, { amount: 0.000001, thresholds: [{ at: 100, action: "stop" }] })).statusCode).toBe(200);
    const stopped = await until(running.id, "STOPPED");
    expect(stopped.message).toMatch(/budget/);
    expect(stopped.events.filter((e) => e.type === "Failed")).toEqual([]);
    expect(((await call("GET", `/api/v1/jobs/${again.jobId}`)).json() as { phase: string }).phase).toBe("CANCELLED");
    expect((await call("DELETE", `/api/v1/budgets/${again.team}`)).statusCode).toBeLessThan(300);
    await call("DELETE", `/api/v1/workspaces/${running.id}`);
  });
});
