import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase, testDialects } from "../../../test/support/databases.ts";
import { JobStore } from "./store.ts";

describe.each(testDialects())("JobStore (%s)", (dialect) => {
  const opened: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const d of opened) await d.close();
  });
  const open = async () => {
    const database = await openTestDatabase(dialect);
    opened.push(database);
    return new JobStore(database.db);
  };
  const newJob = (id: string, priority: number, createdAt: number) => ({
    id,
    name: id,
    owner: "alice",
    team: "default",
    spec: { name: id, retry: { maxAttempts: 1, retryOnExitCodes: [] } },
    request: { profile: null, gpus: 0, gpuType: null, cpus: 1, memoryMiB: 10 },
    priority,
    experimentId: "1",
    runId: `run-${id}`,
    createdAt,
  });

  it("orders the queue by priority, then age", async () => {
    const store = await open();
    await store.insert(newJob("old-low", 0, 1), { type: "Submitted", message: "" });
    await store.insert(newJob("new-high", 5, 3), { type: "Submitted", message: "" });
    await store.insert(newJob("mid-low", 0, 2), { type: "Submitted", message: "" });
    expect((await store.queued()).map((r) => r.job_id)).toEqual(["new-high", "old-low", "mid-low"]);
  });

  it("applies a transition only from the expected phase and attempt, with its event", async () => {
    const store = await open();
    await store.insert(newJob("j", 0, 1), { type: "Submitted", message: "queued" });
    const alloc = { gpus: [1], cpus: 1, memoryMiB: 10 };
    expect(await store.transition("j", ["QUEUED"], "STARTING", { allocation: alloc }, { type: "Scheduled", message: "go", time: 5 })).toBe(true);
    expect(await store.transition("j", ["QUEUED"], "STARTING", {}, { type: "Scheduled", message: "again", time: 6 })).toBe(false);
    expect(await store.transition("j", ["STARTING"], "RUNNING", { handle: { kind: "local", pid: 1 } }, { type: "Started", message: "", time: 7 }, 2)).toBe(false);
    expect(await store.transition("j", ["STARTING"], "RUNNING", { handle: { kind: "local", pid: 1 }, pid: 1 }, { type: "Started", message: "", time: 7 }, 1)).toBe(true);
    const row = await store.get("j");
    expect(row?.phase).toBe("RUNNING");
    expect(JSON.parse(row!.allocation!)).toEqual(alloc);
    expect((await store.active()).map((r) => r.job_id)).toEqual(["j"]);
    expect((await store.events(["j"])).get("j")?.map((e) => e.type)).toEqual(["Submitted", "Scheduled", "Started"]);
  });

  it("claims a batch in one transaction and stores pending reasons for queued jobs only", async () => {
    const store = await open();
    await store.insert(newJob("a", 0, 1), { type: "Submitted", message: "" });
    await store.insert(newJob("b", 0, 2), { type: "Submitted", message: "" });
    const applied = await store.transitionMany([
      { id: "a", from: ["QUEUED"], to: "STARTING", patch: {}, event: { type: "Scheduled", message: "", time: 3 } },
      { id: "missing", from: ["QUEUED"], to: "STARTING", patch: {}, event: { type: "Scheduled", message: "", time: 3 } },
    ]);
    expect(applied).toEqual([true, false]);
    const pending = { reason: "needs 1 GPU", resources: [] };
    await store.setPending(new Map([["a", pending], ["b", pending]]));
    expect((await store.get("a"))?.pending).toBeNull();
    expect(JSON.parse((await store.get("b"))!.pending!)).toEqual(pending);
    expect((await store.list({ limit: 10 })).map((r) => r.job_id)).toEqual(["b", "a"]);
    expect((await store.list({ phase: "STARTING", limit: 10 })).map((r) => r.job_id)).toEqual(["a"]);
  });
});
