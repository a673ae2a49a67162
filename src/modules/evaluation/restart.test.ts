// Crash safety of evaluations in a real `paved up` process: an evaluation acknowledged before a
// kill -9 (Pending, or Running when the server died) is run to its end after the restart.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "../../../test/support/server-process.ts";

const TOKEN = "pvd_evaluation-restart-token-0123456789";
const POLICY = "checks:\n  - {type: quality, metric: accuracy, min: 0.8}\n  - {type: performance, p99Ms: 60000}\n";

async function api(server: ServerProcess, method: string, path: string, body?: unknown, raw?: Buffer): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, "content-type": raw ? "application/octet-stream" : "application/json" },
    ...(raw ? { body: raw } : body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

describe("kill -9 of paved up during evaluations", () => {
  let server: ServerProcess | undefined;
  afterEach(async () => server?.stop());

  it("runs the evaluations it had acknowledged after the restart", async () => {
    const root = mkdtempSync(join(tmpdir(), "paved-eval-kill-"));
    const data = join(root, "data");
    execFileSync("mkdir", ["-p", data]);
    execFileSync("/usr/bin/python3", [new URL("./test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    // A large evaluation set, so the first evaluation is still Running when the server dies.
    const [header, ...rows] = readFileSync(join(data, "eval.csv"), "utf8").trim().split("\n");
    writeFileSync(join(data, "large.csv"), [header, ...Array.from({ length: 400 }, () => rows).flat()].join("\n") + "\n");
    const dataDir = join(root, "paved");
    server = await startServerProcess({ dataDir, token: TOKEN });

    const run = (await api(server, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: "0", start_time: 1 })).run.info;
    await api(server, "PUT", `/api/2.0/mlflow-artifacts/artifacts/0/${run.run_id}/artifacts/model/model.onnx`, undefined, readFileSync(join(data, "good.onnx")));
    await api(server, "POST", "/api/v1/models/crash/versions", { source: `runs:/${run.run_id}/model` });
    await api(server, "PUT", "/api/v1/models/crash/gate-policy", { yaml: POLICY });
    // Evaluation data is uploaded: the server never reads a path of its own disk.
    const upload = async (name: string): Promise<string> => (await api(server!, "POST", "/api/v1/evaluation-data", undefined, readFileSync(join(data, name)))).uri;
    const large = await api(server, "POST", "/api/v1/models/crash/versions/1/evaluations", { data: await upload("large.csv"), sensitive: ["group"] });
    const small = await api(server, "POST", "/api/v1/models/crash/versions/1/evaluations", { data: await upload("eval.csv"), sensitive: ["group"] });
    expect([large.phase, small.phase]).toEqual(["Pending", "Pending"]);
    for (let i = 0; i < 500 && (await api(server, "GET", `/api/v1/evaluations/${large.id}`)).phase === "Pending"; i++) await new Promise((r) => setTimeout(r, 10));
    const before = await api(server, "GET", `/api/v1/evaluations/${large.id}`);
    await server.kill9();
    server = undefined;
    // Most runs catch it Running; either way it is unfinished, and so is the one queued behind it.
    expect(["Pending", "Running"]).toContain(before.phase);

    server = await startServerProcess({ dataDir, token: TOKEN });
    for (const id of [large.id, small.id]) {
      let evaluation: any;
      for (let i = 0; i < 600; i++) {
        evaluation = await api(server, "GET", `/api/v1/evaluations/${id}`);
        if (!["Pending", "Running"].includes(evaluation.phase)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(evaluation, JSON.stringify(evaluation)).toMatchObject({ phase: "Passed", passed: true });
    }
    expect((await api(server, "PUT", "/api/v1/models/crash/aliases/production", { version: "1" })).version).toBe("1");
  }, 120_000);
});
