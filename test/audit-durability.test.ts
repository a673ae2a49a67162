// The audit log's promise: the record of an acknowledged mutation survives kill -9 of `paved up`,
// because it is committed (group commit, fsynced) before the answer is sent.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "./support/server-process.ts";

const TOKEN = "pvd_audit-durability-token-0123456789";

async function call(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; requestId: string; json: any }> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, requestId: res.headers.get("x-request-id") ?? "", json: await res.json() };
}

describe("kill -9 of paved up", () => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("keeps the audit record of every acknowledged mutation, refusals and run-tracking writes included", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "paved-audit-kill-")), "data");
    server = await startServerProcess({ dataDir, token: TOKEN, config: { audit: { dataEvents: true } } });
    const s = server;
    const acknowledged: string[] = [];
    const { json: created, requestId } = await call(s, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0" });
    acknowledged.push(requestId);
    const runId = created.run.info.run_id as string;
    // Answers that finish together share a commit; each is acknowledged only after it.
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => call(s, "POST", "/api/2.0/mlflow/experiments/create", { name: `e-${i}` })),
      ...Array.from({ length: 20 }, (_, i) => call(s, "POST", "/api/2.0/mlflow/runs/log-batch", { run_id: runId, metrics: [{ key: "loss", value: i, timestamp: 1, step: i }] })),
      ...Array.from({ length: 5 }, () => call(s, "POST", "/api/2.0/mlflow/experiments/create", { name: "e-0" })),
    ]);
    for (const a of answers) acknowledged.push(a.requestId);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(40);
    await s.kill9();
    server = await startServerProcess({ dataDir, token: TOKEN });
    const { json } = await call(server, "GET", "/api/v1/audit?limit=1000");
    const recorded = new Set((json.records as { requestId: string }[]).map((r) => r.requestId));
    expect(acknowledged.filter((id) => !recorded.has(id))).toEqual([]);
    const failures = (json.records as { outcome: { status: number } }[]).filter((r) => r.outcome.status >= 400);
    expect(failures.length).toBeGreaterThanOrEqual(4);
  });
});
