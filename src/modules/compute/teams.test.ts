import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, createComputeTestServer } from "../../../test/support/compute-server.ts";
import { testDialects } from "../../../test/support/databases.ts";

type Server = Awaited<ReturnType<typeof createComputeTestServer>>;
type Headers = { authorization: string };

describe.each(testDialects())("jobs under teams (%s)", (dialect) => {
  let env: Server;
  const workingDir = mkdtempSync(join(tmpdir(), "paved-teams-"));
  const admin: Headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  /** Developer of team-a. */
  let alice: Headers;
  /** Viewer of team-a. */
  let vic: Headers;
  /** Viewer of team-b. */
  let bob: Headers;
  /** Developer of team-b. */
  let carol: Headers;

  async function member(name: string, teams: { team: string; role: "viewer" | "developer" }[]): Promise<Headers> {
    const user = await env.identity.createUser({ name, kind: "user", teams });
    const { token } = await env.tokens.createPersonal({ userId: user.id, name: `${name}-test` });
    return { authorization: `Bearer ${token}` };
  }

  const call = (headers: Headers, method: "GET" | "POST", url: string, payload?: object) =>
    env.server.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const submit = (headers: Headers, spec: Record<string, unknown>) =>
    call(headers, "POST", "/api/v1/jobs", { workingDir, command: ["sleep", "300"], compute: { cpus: 0.5, memory: 64 }, ...spec });
  async function until(id: string, phase: string) {
    for (let i = 0; i < 400; i++) {
      const job = (await call(admin, "GET", `/api/v1/jobs/${id}`)).json();
      if (job.phase === phase) return job;
      await sleep(25);
    }
    throw new Error(`job ${id} never reached ${phase}`);
  }

  beforeAll(async () => {
    env = await createComputeTestServer({ gpus: [{ index: 0 }], cpus: 4, memoryMiB: 4096 }, dialect);
    await env.identity.createTeam({ name: "team-a" });
    await env.identity.createTeam({ name: "team-b" });
    alice = await member("alice", [{ team: "team-a", role: "developer" }]);
    vic = await member("vic", [{ team: "team-a", role: "viewer" }]);
    bob = await member("bob", [{ team: "team-b", role: "viewer" }]);
    carol = await member("carol", [{ team: "team-b", role: "developer" }]);
  }, 60_000);
  afterAll(async () => env?.close());

  it("puts a job in its team, hides it from other teams as if it did not exist, and lets viewers read but not write", async () => {
    const created = await submit(alice, { name: "train-a", compute: { gpus: 1, cpus: 0.5, memory: 64 } });
    expect(created.statusCode, created.body).toBe(200);
    const job = created.json();
    expect(job.team).toBe("team-a");
    await until(job.id, "RUNNING");

    // Team B: the job, its logs and its cancel answer exactly as a job that does not exist.
    const missing = await call(bob, "GET", "/api/v1/jobs/job-does-not-exist");
    expect(missing.statusCode).toBe(404);
    const same = (body: string, id: string) => body.replaceAll(id, "<id>");
    for (const [who, method, url] of [
      [bob, "GET", `/api/v1/jobs/${job.id}`],
      [bob, "GET", `/api/v1/jobs/${job.id}/logs`],
      [bob, "GET", `/api/v1/jobs/${job.id}/logs?follow=true`],
      [carol, "POST", `/api/v1/jobs/${job.id}/cancel`],
    ] as const) {
      const hidden = await call(who, method, url, method === "POST" ? {} : undefined);
      expect(hidden.statusCode, `${method} ${url}`).toBe(404);
      expect(hidden.json().error.code).toBe("NOT_FOUND");
      expect(same(hidden.body, job.id)).toBe(same(missing.body, "job-does-not-exist"));
    }
    // A viewer everywhere is refused a cancel before any job is looked up: the same for every id.
    const weak = await call(bob, "POST", `/api/v1/jobs/${job.id}/cancel`, {});
    expect(weak.statusCode).toBe(403);
    expect(same(weak.body, job.id)).toBe(same((await call(bob, "POST", "/api/v1/jobs/job-does-not-exist/cancel", {})).body, "job-does-not-exist"));
    expect((await call(bob, "GET", "/api/v1/jobs")).json().jobs).toEqual([]);
    const held = (await call(bob, "GET", "/api/v1/compute/resources")).json();
    expect(held.gpus[0].heldBy).toEqual({ jobId: null, name: "another team" });
    expect(JSON.stringify(held)).not.toContain(job.id);

    // A viewer of team A reads it, and may not cancel or submit.
    expect((await call(vic, "GET", `/api/v1/jobs/${job.id}`)).statusCode).toBe(200);
    expect((await call(vic, "GET", `/api/v1/jobs/${job.id}/logs`)).statusCode).toBe(200);
    expect((await call(vic, "GET", "/api/v1/jobs")).json().jobs.map((j: { id: string }) => j.id)).toEqual([job.id]);
    expect((await call(vic, "GET", "/api/v1/compute/resources")).json().gpus[0].heldBy).toEqual({ jobId: job.id, name: "train-a", team: "team-a" });
    const cancel = await call(vic, "POST", `/api/v1/jobs/${job.id}/cancel`, {});
    expect(cancel.statusCode).toBe(403);
    expect(cancel.json().error.code).toBe("FORBIDDEN");
    expect((await submit(vic, { name: "nope", team: "team-a" })).statusCode).toBe(403);

    // Team B's developer waits for the GPU and learns only that another team holds it.
    const waiting = await submit(carol, { name: "train-b", compute: { gpus: 1, cpus: 0.5, memory: 64 } });
    expect(waiting.statusCode, waiting.body).toBe(200);
    expect(waiting.json().team).toBe("team-b");
    let pending;
    for (let i = 0; i < 200 && !pending?.resources?.length; i++) {
      pending = (await call(carol, "GET", `/api/v1/jobs/${waiting.json().id}`)).json().pending;
      await sleep(25);
    }
    expect(pending.resources[0].heldBy).toEqual([{ jobId: null, name: "another team", amount: 1 }]);
    expect(pending.reason).not.toContain(job.id);
    expect(pending.reason).not.toContain("train-a");
    expect(pending.reason).toContain("another team");
    // The platform admin sees who holds it.
    expect((await call(admin, "GET", `/api/v1/jobs/${waiting.json().id}`)).json().pending.resources[0].heldBy[0]).toMatchObject({ jobId: job.id, team: "team-a" });

    expect((await call(alice, "POST", `/api/v1/jobs/${job.id}/cancel`, {})).statusCode).toBe(200);
    await until(waiting.json().id, "RUNNING");
    expect((await call(carol, "POST", `/api/v1/jobs/${waiting.json().id}/cancel`, {})).statusCode).toBe(200);
  }, 60_000);

  it("takes the team a spec names only where the caller is a member, and needs one when the caller could mean several", async () => {
    const other = await submit(alice, { name: "elsewhere", team: "team-b" });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe("NOT_FOUND");
    const unknown = await submit(alice, { name: "elsewhere", team: "no-such-team" });
    expect(unknown.statusCode).toBe(404);
    expect(other.json().error.message.replace("team-b", "<t>")).toBe(unknown.json().error.message.replace("no-such-team", "<t>"));

    const both = await member("dana", [
      { team: "team-a", role: "developer" },
      { team: "team-b", role: "developer" },
    ]);
    const ambiguous = await submit(both, { name: "which", command: ["true"] });
    expect(ambiguous.statusCode).toBe(400);
    expect(ambiguous.json().error.code).toBe("INVALID_INPUT");
    const chosen = await submit(both, { name: "which", command: ["true"], team: "team-b" });
    expect(chosen.statusCode, chosen.body).toBe(200);
    expect(chosen.json()).toMatchObject({ team: "team-b", spec: { team: "team-b" } });
    await until(chosen.json().id, "SUCCEEDED");
  }, 60_000);

  it("records the job's run in an experiment of its team, and refuses an experiment name another team holds", async () => {
    const first = await submit(alice, { name: "exp-owner", experiment: "shared-name", command: ["true"] });
    expect(first.statusCode, first.body).toBe(200);
    const experiment = await call(alice, "GET", `/api/2.0/mlflow/experiments/get?experiment_id=${first.json().experimentId}`);
    expect(experiment.statusCode).toBe(200);
    // Team B cannot see the experiment, and cannot record into it by naming it.
    expect((await call(bob, "GET", `/api/2.0/mlflow/experiments/get?experiment_id=${first.json().experimentId}`)).statusCode).toBe(404);
    const taken = await submit(carol, { name: "exp-thief", experiment: "shared-name", command: ["true"] });
    expect(taken.statusCode).toBe(409);
    expect(taken.json().error.code).toBe("ALREADY_EXISTS");
    await until(first.json().id, "SUCCEEDED");
  }, 60_000);

  it("gives a job's token its team's reads only: another team's run answers as missing", async () => {
    const jobA = (await submit(alice, { name: "reader", command: ["true"] })).json();
    const jobB = (await submit(carol, { name: "other", command: ["true"] })).json();
    await until(jobA.id, "SUCCEEDED");
    await until(jobB.id, "SUCCEEDED");
    const token = { authorization: `Bearer ${await env.tokens.mintForJob(jobA.id, 60_000)}` };
    expect((await call(token, "GET", `/api/2.0/mlflow/runs/get?run_id=${jobA.runId}`)).statusCode).toBe(200);
    const foreign = await call(token, "GET", `/api/2.0/mlflow/runs/get?run_id=${jobB.runId}`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json().error_code).toBe("RESOURCE_DOES_NOT_EXIST");
    expect((await call(token, "GET", `/api/v1/jobs/${jobB.id}`)).statusCode).toBe(404);
  }, 60_000);
});
