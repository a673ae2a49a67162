import { describe, expect, it } from "vitest";
import type { RunView } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const run = (id: string, params: Record<string, string>, loss: number): RunView => ({
  id,
  experimentId: "1",
  name: `run-${id}`,
  status: "FINISHED",
  lifecycleStage: "active",
  user: "ada",
  startTime: 1_000,
  endTime: 73_000,
  artifactUri: `paved-artifacts:/1/${id}`,
  jobId: null,
  source: { commit: null, dirty: null, entrypoint: null },
  params,
  tags: {},
  metrics: { loss: { value: loss, step: 3, timestamp: 73_000 } },
  inputs: [],
});

describe("paved runs", () => {
  it("compare puts params and latest metrics side by side and marks differences", async () => {
    const runs: Record<string, RunView> = { a: run("a", { lr: "0.1", epochs: "5" }, 0.5), b: run("b", { lr: "0.01", epochs: "5" }, 0.5) };
    const result = await runForTest(["runs", "compare", "a", "b"], (r) => runs[r.path.split("/").pop()!]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        "   KEY            a         b",
        "*  name           run-a     run-b",
        "   status         FINISHED  FINISHED",
        "   params.epochs  5         5",
        "*  params.lr      0.1       0.01",
        "   metrics.loss   0.5       0.5",
        "(* = values differ)",
        "",
      ].join("\n"),
    );
  });

  it("compare needs two runs", async () => {
    expect((await runForTest(["runs", "compare", "a"])).code).toBe(2);
  });

  it("ls passes search options through", async () => {
    const result = await runForTest(["runs", "ls", "--experiment", "mnist", "--filter", "metrics.loss < 1", "--order-by", "metrics.loss ASC", "--limit", "3"], () => ({
      runs: [run("a", {}, 0.25)],
    }));
    expect(result.requests[0]?.query).toEqual({ experiment: "mnist", filter: "metrics.loss < 1", orderBy: "metrics.loss ASC", limit: "3" });
    expect(result.stdout).toContain("loss=0.25");
  });

  it("show prints params, metrics and artifacts", async () => {
    const result = await runForTest(["runs", "show", "a"], (r) =>
      r.path.endsWith("/artifacts") ? { files: [{ path: "model.onnx", isDir: false, size: 2048 }] } : run("a", { lr: "0.1" }, 0.5),
    );
    expect(result.stdout).toContain("Duration:    1m12s");
    expect(result.stdout).toContain("lr   0.1");
    expect(result.stdout).toContain("model.onnx  2 KiB");
  });

  it("metrics follows the server's pages of a metric's history", async () => {
    const pages: Record<string, unknown> = {
      "": { history: [{ value: 0.9, step: 0, timestamp: 1_000 }], nextPageToken: "p2" },
      p2: { history: [{ value: 0.5, step: 1, timestamp: 2_000 }] },
    };
    const result = await runForTest(["runs", "metrics", "a", "loss", "--json"], (r) => pages[r.query.pageToken ?? ""]);
    expect(result.code).toBe(0);
    expect(result.requests.map((r) => [r.path, r.query.pageToken])).toEqual([
      ["/api/v1/runs/a/metrics/loss", undefined],
      ["/api/v1/runs/a/metrics/loss", "p2"],
    ]);
    expect(JSON.parse(result.stdout).history.map((p: { step: number }) => p.step)).toEqual([0, 1]);
  });

  it("metrics --points asks for buckets and prints min, max and last of each", async () => {
    const answer = {
      key: "loss",
      axis: "step",
      start: 0,
      end: 19,
      width: 10,
      buckets: [
        { start: 0, count: 10, min: 0.5, max: 0.9, last: 0.6, firstStep: 0, lastStep: 9, firstTime: 1_000, lastTime: 9_000 },
        { start: 10, count: 12, min: 0.25, max: 0.5, last: 0.3, firstStep: 10, lastStep: 19, firstTime: 10_000, lastTime: 19_000 },
      ],
    };
    const result = await runForTest(["runs", "metrics", "a", "loss", "--points", "2", "--start-step", "0", "--end-step", "19"], () => answer);
    expect(result.code).toBe(0);
    expect(result.requests[0]).toMatchObject({ path: "/api/v1/runs/a/metrics/loss/history", query: { points: "2", startStep: "0", endStep: "19" } });
    expect(result.stdout).toMatch(/^10-19\s+12\s+0\.25\s+0\.5\s+0\.3$/m);
    const bad = await runForTest(["runs", "metrics", "a", "loss", "--points", "0"], () => answer);
    expect(bad.code).not.toBe(0);
    expect(bad.requests).toHaveLength(0);
  });

  it("metrics without a key lists each metric's latest value", async () => {
    const result = await runForTest(["runs", "metrics", "a"], () => run("a", {}, 0.25));
    expect(result.stdout).toMatch(/^loss\s+0\.25\s+3$/m);
  });

  it("artifacts ls lists a folder and get streams a file to stdout", async () => {
    const listing = await runForTest(["runs", "artifacts", "ls", "a", "outputs"], () => ({ files: [{ path: "outputs/model.onnx", isDir: false, size: 2048 }] }));
    expect(listing.requests[0]).toMatchObject({ path: "/api/v1/runs/a/artifacts", query: { path: "outputs" } });
    expect(listing.stdout).toContain("outputs/model.onnx  2 KiB");
    const get = await runForTest(["runs", "artifacts", "get", "a", "outputs/metrics.json"], () => new Response('{"auc": 0.9}'));
    expect(get.requests[0]).toMatchObject({ path: "/api/v1/runs/a/artifacts/content", query: { path: "outputs/metrics.json" } });
    expect(get.stdout).toBe('{"auc": 0.9}');
  });
});
