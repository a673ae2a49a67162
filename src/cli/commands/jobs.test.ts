import { describe, expect, it } from "vitest";
import type { Job } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const now = 1_700_000_000_000;
const queued: Job = {
  id: "job_2",
  name: "big",
  phase: "QUEUED",
  priority: 0,
  attempt: 0,
  maxAttempts: 1,
  owner: "admin",
  team: "default",
  experimentId: "exp_1",
  runId: null,
  createdAt: now - 65_000,
  startedAt: null,
  finishedAt: null,
  exitCode: null,
  message: null,
  request: { profile: null, gpus: 2, gpuType: null, cpus: 4, memoryMiB: 8192 },
  allocation: null,
  pending: {
    reason: "waiting for 2 GPUs",
    resources: [
      { resource: "gpu", requested: 2, free: 1, total: 4, heldBy: [{ jobId: "job_1", name: "small", amount: 3 }] },
      { resource: "cpu", requested: 4, free: 12, total: 16, heldBy: [] },
    ],
  },
  events: [{ time: now - 65_000, type: "Queued", message: "job queued" }],
  spec: { name: "big", command: ["python3", "train.py", "--note", "two words"], workingDir: "/w", compute: { gpus: 2, cpus: 4 } },
};

describe("paved jobs", () => {
  it("describe says exactly why a queued job waits", async () => {
    const result = await runForTest(["jobs", "describe", "job_2"], () => queued, { now });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Waiting: waiting for 2 GPUs\n");
    expect(result.stdout).toContain(
      [
        "RESOURCE  REQUESTED  FREE  TOTAL  SHORT  HELD BY",
        "gpu               2     1      4  yes    small (job_1): 3",
        "cpu               4    12     16  no     -",
      ].join("\n"),
    );
    expect(result.stdout).toContain("Command:      python3 train.py --note 'two words'\n");
    expect(result.stdout).toMatch(/Created: +\S+ \S+ \(1m ago\)/);
    expect(result.stdout).toContain("1m ago  Queued  job queued");
  });

  it("describe shows a job of another team only as 'another team'", async () => {
    const hidden: Job = {
      ...queued,
      pending: { reason: "needs 2 GPUs, 1 of 4 free; held by another team: 3", resources: [{ resource: "gpu", requested: 2, free: 1, total: 4, heldBy: [{ jobId: null, name: "another team", amount: 3 }] }] },
    };
    const result = await runForTest(["jobs", "describe", "job_2"], () => hidden, { now });
    expect(result.stdout).toContain("Team:         default\n");
    expect(result.stdout).toMatch(/yes +another team: 3\n/);
  });

  it("ls renders a table and passes the filters", async () => {
    const result = await runForTest(["jobs", "ls", "--phase", "queued", "--limit", "5"], () => ({ jobs: [queued] }), { now });
    expect(result.requests[0]?.query).toEqual({ phase: "QUEUED", limit: "5" });
    expect(result.stdout.split("\n")[0]).toBe("ID     NAME  TEAM     PHASE   ATTEMPT  GPUS  CREATED  DURATION  MESSAGE");
    expect(result.stdout.split("\n")[1]).toBe("job_2  big   default  QUEUED      0/1  -     1m ago          -  waiting for 2 GPUs");
  });

  it("ls rejects an unknown phase and names the valid ones", async () => {
    const result = await runForTest(["jobs", "ls", "--phase", "DONE"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SUCCEEDED");
  });

  it("logs prints the stream of the asked attempt", async () => {
    const result = await runForTest(["logs", "job_2", "--attempt", "2"], () => new Response("hello\n"));
    expect(result.stdout).toBe("hello\n");
    expect(result.requests[0]).toMatchObject({ path: "/api/v1/jobs/job_2/logs", query: { attempt: "2" } });
  });

  it("logs says where the page it printed lies when the log is longer, and how to read the rest", async () => {
    const headers = { "x-paved-log-attempt": "1", "x-paved-log-start": "4194304", "x-paved-log-end": "5000000", "x-paved-log-size": "5000000" };
    const last = await runForTest(["logs", "job_2"], () => new Response("tail\n", { headers }));
    expect(last.stdout).toBe("tail\n");
    expect(last.stderr).toContain("bytes 4194304-5000000 of 5000000");
    expect(last.stderr).toContain("paved logs job_2 --attempt 1 --offset 0");
    const first = await runForTest(["logs", "job_2", "--offset", "0"], () =>
      new Response("head\n", { headers: { ...headers, "x-paved-log-start": "0", "x-paved-log-end": "4194304" } }),
    );
    expect(first.requests[0]).toMatchObject({ query: { offset: "0" } });
    expect(first.stderr).toContain("--offset 4194304");
  });

  it("cancel posts and reports the phase", async () => {
    const result = await runForTest(["jobs", "cancel", "job_2"], () => ({ ...queued, phase: "CANCELLED" }));
    expect(result.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/jobs/job_2/cancel" });
    expect(result.stdout).toBe("job job_2 (big) is CANCELLED\n");
  });
});
