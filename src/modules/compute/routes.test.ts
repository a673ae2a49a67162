import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, createComputeTestServer } from "../../../test/support/compute-server.ts";

describe("compute routes", async () => {
  const { server, tokens, close } = await createComputeTestServer({ gpus: [{ index: 0 }, { index: 1 }], cpus: 4, memoryMiB: 4096 });
  const adminToken = TEST_ADMIN_TOKEN;
  afterAll(close);
  const workingDir = mkdtempSync(join(tmpdir(), "paved-routes-"));
  const auth = { authorization: `Bearer ${adminToken}` };

  it("submits, lists, describes and follows a job over HTTP", async () => {
    const created = await server.inject({
      method: "POST",
      url: "/api/v1/jobs",
      headers: auth,
      payload: { kind: "Job", name: "hello", workingDir, command: [process.execPath, "-e", "console.log('hello from paved')"], compute: { profile: "cpu" }, hyperparameterArgs: false },
    });
    expect(created.statusCode).toBe(200);
    const job = created.json();
    expect(job).toMatchObject({ name: "hello", experimentId: expect.any(String), runId: expect.any(String), request: { profile: "cpu" } });
    const logs = await server.inject({ method: "GET", url: `/api/v1/jobs/${job.id}/logs?follow=true`, headers: auth });
    expect(logs.statusCode).toBe(200);
    expect(logs.headers["content-type"]).toContain("text/plain");
    expect(logs.body).toBe("hello from paved\n");
    let described = (await server.inject({ method: "GET", url: `/api/v1/jobs/${job.id}`, headers: auth })).json();
    for (let i = 0; i < 200 && described.phase !== "SUCCEEDED"; i++) {
      await new Promise((r) => setTimeout(r, 20));
      described = (await server.inject({ method: "GET", url: `/api/v1/jobs/${job.id}`, headers: auth })).json();
    }
    expect(described.phase).toBe("SUCCEEDED");
    const list = (await server.inject({ method: "GET", url: "/api/v1/jobs?phase=SUCCEEDED&limit=5", headers: auth })).json();
    expect(list.jobs.map((j: { id: string }) => j.id)).toContain(job.id);
    const run = await server.inject({ method: "GET", url: `/api/2.0/mlflow/runs/get?run_id=${job.runId}`, headers: auth });
    expect(run.statusCode).toBe(200);
  });

  it("answers errors with stable codes", async () => {
    const unknownField = await server.inject({ method: "POST", url: "/api/v1/jobs", headers: auth, payload: { name: "x", workingDir, command: ["true"], gpu: 1 } });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json().error.code).toBe("INVALID_INPUT");
    expect(unknownField.json().error.message).toContain("gpu");
    const tooBig = await server.inject({ method: "POST", url: "/api/v1/jobs", headers: auth, payload: { name: "x", workingDir, command: ["true"], compute: { profile: "gpu-8" } } });
    expect(tooBig.json().error.code).toBe("INVALID_INPUT");
    const missing = await server.inject({ method: "GET", url: "/api/v1/jobs/job-nope", headers: auth });
    expect(missing.statusCode).toBe(404);
    const jobToken = await tokens.mintForJob("job-abc", 60_000);
    const forbidden = await server.inject({
      method: "POST",
      url: "/api/v1/jobs",
      headers: { authorization: `Bearer ${jobToken}` },
      payload: { name: "x", workingDir, command: ["true"] },
    });
    expect(forbidden.statusCode).toBe(403);
  });

  it("lists profiles and resources", async () => {
    const profiles = (await server.inject({ method: "GET", url: "/api/v1/profiles", headers: auth })).json();
    expect(profiles.profiles.map((p: { name: string }) => p.name)).toContain("gpu-1");
    const resources = (await server.inject({ method: "GET", url: "/api/v1/compute/resources", headers: auth })).json();
    expect(resources.total).toEqual({ gpus: 2, cpus: 4, memoryMiB: 4096 });
    expect(resources.gpus).toHaveLength(2);
  });
});
