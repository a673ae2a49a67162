import { afterEach, describe, expect, it } from "vitest";
import { PipelineStore } from "../src/modules/pipelines/store.ts";
import { openTestDatabase } from "./support/databases.ts";
import { testDialects } from "./support/databases.ts";

type Db = Awaited<ReturnType<typeof openTestDatabase>>;

/** The pipeline store on each dialect: a run with many steps in one write, conditional step changes, the cache lookup. */
describe.each(testDialects())("pipeline store (%s)", (dialect) => {
  let database: Db | undefined;
  afterEach(async () => database?.close());

  const stepRow = (run: string, pipeline: string, key: string, position: number) => ({
    run_id: run,
    step_key: key,
    pipeline_id: pipeline,
    position,
    step_name: key.replace(/\[\d+\]$/, ""),
    kind: "echo",
    plan: "{}",
    item: null,
    phase: "pending",
    attempt: 1,
    start_key: null,
    handle: null,
    body: null,
    cache_key: null,
    cached_from_run: null,
    cached_from_step: null,
    outputs: null,
    message: null,
    started_at: null,
    deadline_at: null,
    finished_at: null,
    updated_at: 1,
  });
  const runRow = (id: string, pipeline: string, time: number) => ({ run_id: id, pipeline_id: pipeline, pipeline_name: pipeline, pipeline_version: 1, team_id: "risk", owner: "ada", principal: "{}", params: "{}", phase: "RUNNING", message: null, created_at: time, updated_at: time, finished_at: null });

  it("stores a run of 1,000 steps at once, changes a step only from the phase it was read in, and finds cache hits of earlier runs of the same pipeline", async () => {
    database = await openTestDatabase(dialect);
    const store = new PipelineStore(database.db);
    const steps = Array.from({ length: 1000 }, (_, i) => stepRow("r1", "p1", `s[${i}]`, i));
    await store.insertRun(runRow("r1", "p1", 1), steps, { type: "Started", message: "x" });
    const stored = await store.steps("r1");
    expect(stored).toHaveLength(1000);
    expect(stored[999]!.step_key).toBe("s[999]");

    expect(await store.patchStep("r1", "s[0]", { phase: "pending", attempt: 1 }, { phase: "succeeded", cache_key: "k", outputs: '{"v":1}', finished_at: 5 })).toBe(true);
    // A second change from the phase the first one left is refused: a cancel and an end that race leave one answer.
    expect(await store.patchStep("r1", "s[0]", { phase: "pending", attempt: 1 }, { phase: "cancelled" })).toBe(false);
    expect(await store.patchStep("r1", "s[1]", { phase: "pending", attempt: 2 }, { phase: "running" })).toBe(false);
    expect((await store.counts(["r1"])).get("r1")).toEqual({ pending: 999, succeeded: 1 });
    // Instant steps' ends in one transaction: each change still applies only from the phase it was read in.
    const applied = await store.patchSteps("r1", [
      { key: "s[2]", from: { phase: "pending", attempt: 1 }, patch: { phase: "succeeded", outputs: "{}" } },
      { key: "s[0]", from: { phase: "pending", attempt: 1 }, patch: { phase: "succeeded" } },
      { key: "s[3]", from: { phase: "pending", attempt: 1 }, patch: { phase: "succeeded", outputs: "{}" } },
    ]);
    expect([...applied].sort()).toEqual(["s[2]", "s[3]"]);
    expect((await store.counts(["r1"])).get("r1")).toEqual({ pending: 997, succeeded: 3 });

    await store.insertRun(runRow("r2", "p1", 2), [stepRow("r2", "p1", "s[0]", 0)], { type: "Started", message: "x" });
    await store.insertRun(runRow("r3", "p2", 3), [stepRow("r3", "p2", "s[0]", 0)], { type: "Started", message: "x" });
    expect((await store.cached("p1", "k", "r2"))?.run_id).toBe("r1");
    // Not from the run itself, nor from another pipeline, nor a step that did not finish.
    expect(await store.cached("p1", "k", "r1")).toBeUndefined();
    expect(await store.cached("p2", "k", "r3")).toBeUndefined();
    await store.patchStep("r1", "s[1]", { phase: "pending", attempt: 1 }, { phase: "failed", cache_key: "k2", finished_at: 6 });
    expect(await store.cached("p1", "k2", "r2")).toBeUndefined();

    expect(await store.transitionRun("r1", ["RUNNING"], "CANCELLING", { message: "by ada" }, { type: "Cancelling", message: "by ada", time: 7 })).toBe(true);
    expect(await store.transitionRun("r1", ["RUNNING"], "SUCCEEDED", {}, { type: "Succeeded", message: "", time: 8 })).toBe(false);
    expect((await store.events("r1")).map((e) => e.type)).toEqual(["Started", "Cancelling"]);
    expect((await store.runs({ limit: 10, phases: ["RUNNING"] })).map((r) => r.run_id)).toEqual(["r3", "r2"]);
    expect(await store.runs({ limit: 10, teams: [] })).toEqual([]);
  });

  it("pages a pipeline's runs newest first by creation time and run id, and pipelines by name, from where the last page ended", async () => {
    database = await openTestDatabase(dialect);
    const store = new PipelineStore(database.db);
    // Three runs in one millisecond: the run id orders them, so no page repeats or skips one.
    for (const [id, time] of [["r-a", 5], ["r-c", 5], ["r-b", 5], ["r-d", 9], ["r-e", 1]] as const) await store.insertRun(runRow(id, "p1", time), [], { type: "Started", message: "x" });
    await store.insertRun(runRow("r-other", "p2", 6), [], { type: "Started", message: "x" });
    const walk = async (limit: number) => {
      const seen: string[] = [];
      let before: { createdAt: number; id: string } | undefined;
      for (;;) {
        const rows = await store.runs({ limit, pipelineId: "p1", before });
        seen.push(...rows.map((r) => r.run_id));
        if (rows.length < limit) return seen;
        before = { createdAt: Number(rows.at(-1)!.created_at), id: rows.at(-1)!.run_id };
      }
    };
    for (const limit of [1, 2, 4]) expect(await walk(limit)).toEqual(["r-d", "r-c", "r-b", "r-a", "r-e"]);

    for (const [id, name, team] of [["p1", "b-one", "risk"], ["p2", "a-two", "fraud"], ["p3", "c-three", "risk"]]) {
      await store.insertPipeline({ pipeline_id: id!, name: name!, team_id: team!, description: null, spec: "{}", version: 1, created_by: "ada", created_at: 1, updated_at: 1 });
    }
    expect((await store.pipelines({ limit: 10, after: "a-two" })).map((p) => p.name)).toEqual(["b-one", "c-three"]);
    expect((await store.pipelines({ limit: 1, teams: ["risk"], after: "b-one" })).map((p) => p.name)).toEqual(["c-three"]);
    expect(await store.pipelines({ limit: 10, after: "c-three" })).toEqual([]);
  });
});
