// Issue 9, item 7: kill -9 of `paved up` leaves running workspaces running; the restarted server
// adopts them (same URL, same kernel, same job: nothing orphaned or started twice), and marks one
// whose server died meanwhile as FAILED.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KernelClient, type WorkspaceView } from "../src/modules/workspaces/index.ts";
import { pollUntil } from "./support/poll.ts";
import { freePort, startServerProcess, type ServerProcess } from "./support/server-process.ts";

// Each test starts Jupyter servers and kernels: in the full suite on two cores that takes many times
// its figure alone, so the limit is above pollUntil's deadline (whose failure names what never happened).
vi.setConfig({ testTimeout: 200_000, hookTimeout: 200_000 });

const TOKEN = "workspace-restart-admin-token-0123456789";
const auth = { authorization: `Bearer ${TOKEN}` };

async function api<T>(server: ServerProcess, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.url}${path}`, { method, headers: { ...auth, ...(body ? { "content-type": "application/json" } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

const until = (server: ServerProcess, id: string, phase: string) =>
  pollUntil(`workspace ${id} reaching ${phase}`, () => api<WorkspaceView>(server, "GET", `/api/v1/workspaces/${id}`), (ws) => ws.phase === phase, {
    fail: (ws) => (ws.phase === "FAILED" ? `it failed: ${ws.message}` : undefined),
  });

describe("kill -9 of paved up with running workspaces", () => {
  let server: ServerProcess | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it("adopts a running workspace after the restart: same URL, same kernel, same job", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "paved-ws-restart-")), "data");
    const port = await freePort();
    server = await startServerProcess({ dataDir, token: TOKEN, port });
    const created = await api<WorkspaceView>(server, "POST", "/api/v1/workspaces", { name: "survivor", profile: "cpu" });
    const before = await until(server, created.id, "RUNNING");
    const base = `/workspaces/${before.id}/`;
    const kernelId = (await api<{ id: string }>(server, "POST", `${base}api/kernels`, {})).id;
    const first = await KernelClient.open({ url: server.url }, base, kernelId, auth);
    expect((await first.execute("x = 41")).status).toBe("ok");
    first.close();

    await server.kill9();
    server = await startServerProcess({ dataDir, token: TOKEN, port });

    const after = await until(server, before.id, "RUNNING");
    expect(after).toMatchObject({ url: before.url, jobId: before.jobId, session: before.session });
    expect(after.events.map((e) => e.type)).not.toContain("Failed");
    const again = await KernelClient.open({ url: server.url }, base, kernelId, auth);
    try {
      const out = await again.execute("print(x + 1)");
      expect(out.stdout.trim()).toBe("42");
    } finally {
      again.close();
    }
    const job = await api<{ phase: string; events: { type: string }[] }>(server, "GET", `/api/v1/jobs/${before.jobId}`);
    expect(job.phase).toBe("RUNNING");
    expect(job.events.map((e) => e.type)).toContain("Adopted");
    await api(server, "DELETE", `/api/v1/workspaces/${before.id}`);
  });

  it("marks a workspace FAILED when its server died while paved up was down", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "paved-ws-restart-")), "data");
    const port = await freePort();
    server = await startServerProcess({ dataDir, token: TOKEN, port });
    const created = await api<WorkspaceView>(server, "POST", "/api/v1/workspaces", { name: "casualty", profile: "cpu" });
    const running = await until(server, created.id, "RUNNING");
    await server.kill9();
    const pid = Number(readFileSync(join(dataDir, "jobs", running.jobId!, "attempt-1.pid"), "utf8").trim());
    process.kill(-pid, "SIGKILL");
    server = await startServerProcess({ dataDir, token: TOKEN, port });
    const failed = await until(server, created.id, "FAILED");
    expect(failed.message).toContain(running.jobId!);
    // Start brings it back, on the same URL.
    await api(server, "POST", `/api/v1/workspaces/${created.id}/start`);
    expect((await until(server, created.id, "RUNNING")).url).toBe(running.url);
    await api(server, "DELETE", `/api/v1/workspaces/${created.id}`);
  });
});
