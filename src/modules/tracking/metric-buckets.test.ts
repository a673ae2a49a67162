import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../app.ts";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";

interface Point {
  value: number;
  step: number;
  timestamp: number;
  /** Order logged (the database's id order). */
  seq: number;
}

interface Bucket {
  start: number;
  count: number;
  min: number | null;
  max: number | null;
  last: number | null;
  firstStep: number;
  lastStep: number;
  firstTime: number;
  lastTime: number;
}

/** What the buckets must be, computed here from the points as logged. */
function expectedBuckets(points: Point[], axis: "step" | "time", n: number, range?: [number, number], widthOf?: (minimum: number) => number): { width: number; buckets: Bucket[] } {
  const at = (p: Point) => (axis === "step" ? p.step : p.timestamp);
  const inRange = points.filter((p) => !range || (p.step >= range[0] && p.step <= range[1]));
  const lo = axis === "step" && range ? range[0] : Math.min(...inRange.map(at));
  const hi = axis === "step" && range ? range[1] : Math.max(...inRange.map(at));
  const minimum = Math.max(1, Math.ceil((hi - lo + 1) / n));
  const width = widthOf ? widthOf(minimum) : minimum;
  const groups = new Map<number, Point[]>();
  for (const p of inRange) {
    const b = Math.floor((at(p) - lo) / width);
    groups.set(b, [...(groups.get(b) ?? []), p]);
  }
  const order = (a: Point, b: Point) => (axis === "step" ? a.step - b.step || a.timestamp - b.timestamp : a.timestamp - b.timestamp || a.step - b.step) || a.seq - b.seq;
  const buckets = [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, ps]) => {
      const values = ps.map((p) => p.value).filter((v) => !Number.isNaN(v));
      const last = [...ps].sort(order).at(-1)!.value;
      return {
        start: lo + b * width,
        count: ps.length,
        min: values.length ? Math.min(...values) : null,
        max: values.length ? Math.max(...values) : null,
        last: Number.isNaN(last) ? null : last,
        firstStep: Math.min(...ps.map((p) => p.step)),
        lastStep: Math.max(...ps.map((p) => p.step)),
        firstTime: Math.min(...ps.map((p) => p.timestamp)),
        lastTime: Math.max(...ps.map((p) => p.timestamp)),
      };
    });
  return { width, buckets };
}

// Issue 15, item 3: a downsampled history for charts, bucketed in the database.
describe.each(testDialects())("downsampled metric history on %s", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let other: AuthHeaders;
  let runId: string;
  const logged: Point[] = [];
  const missingRun = "f".repeat(32);

  const history = (who: AuthHeaders, run: string, key: string, query: Record<string, string> = {}) =>
    app.server.inject({ method: "GET", url: `/api/v1/runs/${run}/metrics/${encodeURIComponent(key)}/history?${new URLSearchParams(query)}`, headers: who });

  beforeAll(async () => {
    ({ app, admin } = await createTeamsTestApp(dialect, "history-buckets"));
    ({ other } = await createMembers(app, admin, ["team-b"], { other: [{ team: "team-b", role: "developer" }] }));
    const run = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: admin, payload: { experiment_id: "0", start_time: 1 } });
    runId = run.json().run.info.run_id;
    // 1,200 steps logged out of order (a stride through them), timestamps shared by ten steps
    // each, some steps logged twice (once with the very same timestamp), some points NaN.
    const points: Omit<Point, "seq">[] = [];
    for (let i = 0; i < 1200; i++) {
      const step = (i * 7) % 1200;
      const value = step % 97 === 0 ? NaN : Math.sin(step / 50) * 10 + (step % 13) / 7;
      points.push({ step, value, timestamp: 1_000_000 + Math.floor(step / 10) * 1000 });
      if (step % 50 === 0) points.push({ step, value: -step - 1, timestamp: 1_000_000 + Math.floor(step / 10) * 1000 });
      if (step % 75 === 0) points.push({ step, value: step * 3, timestamp: 900_000 });
    }
    for (let i = 0; i < points.length; i += 1000) {
      const chunk = points.slice(i, i + 1000);
      const metrics = chunk.map((p) => ({ key: "train/loss", value: Number.isNaN(p.value) ? "NaN" : p.value, step: p.step, timestamp: p.timestamp }));
      const res = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/log-batch", headers: admin, payload: { run_id: runId, metrics } });
      expect(res.statusCode, res.body).toBe(200);
      for (const p of chunk) logged.push({ ...p, seq: logged.length });
    }
  }, 60_000);
  afterAll(async () => app?.close());

  it("answers each bucket's count, min, max and last exactly, over steps", async () => {
    for (const points of [1000, 100, 7, 1]) {
      const res = await history(admin, runId, "train/loss", { points: String(points) });
      expect(res.statusCode, res.body).toBe(200);
      const want = expectedBuckets(logged, "step", points);
      expect(res.json()).toMatchObject({ key: "train/loss", axis: "step", start: 0, end: 1199, width: want.width });
      expect(res.json().buckets).toHaveLength(want.buckets.length);
      expect(res.json().buckets).toEqual(want.buckets);
      expect(res.json().buckets.length).toBeLessThanOrEqual(points);
    }
  });

  it("answers the default of 1,000 buckets at most, one per step when there are fewer steps", async () => {
    const body = (await history(admin, runId, "train/loss")).json();
    expect(body.buckets.length).toBeLessThanOrEqual(1000);
    expect(body.buckets).toEqual(expectedBuckets(logged, "step", 1000).buckets);
    expect(body.buckets.reduce((n: number, b: Bucket) => n + b.count, 0)).toBe(logged.length);
  });

  it("buckets over time when asked, last being the latest logged", async () => {
    const body = (await history(admin, runId, "train/loss", { axis: "time", points: "30" })).json();
    const want = expectedBuckets(logged, "time", 30);
    expect(body).toMatchObject({ axis: "time", start: 900_000, end: 1_119_000, width: want.width });
    expect(body.buckets).toEqual(want.buckets);
  });

  it("zooms into a step range with the same bucketing", async () => {
    const body = (await history(admin, runId, "train/loss", { startStep: "300", endStep: "449", points: "15" })).json();
    const want = expectedBuckets(logged, "step", 15, [300, 449]);
    expect(want.width).toBe(10);
    expect(body).toMatchObject({ start: 300, end: 449, width: 10 });
    expect(body.buckets).toEqual(want.buckets);
    const empty = (await history(admin, runId, "train/loss", { startStep: "5000", endStep: "6000" })).json();
    expect(empty.buckets).toEqual([]);
  });

  it("rounds the width up to whole chunks for a series logged in order, so no chunk is split, and stays exact", async () => {
    const run = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: admin, payload: { experiment_id: "0", start_time: 1 } });
    const id: string = run.json().run.info.run_id;
    // 20 chunks of 256 steps (every 3rd step logged), in order: a regular grid of period 768.
    const points: Point[] = [];
    for (let i = 0; i < 20 * 256; i++) points.push({ step: 5 + i * 3, timestamp: 2_000_000 + i * 17, value: Math.cos(i / 40) + (i % 11) / 5, seq: i });
    for (let i = 0; i < points.length; i += 1000) {
      const metrics = points.slice(i, i + 1000).map((p) => ({ key: "lr", value: p.value, step: p.step, timestamp: p.timestamp }));
      expect((await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/log-batch", headers: admin, payload: { run_id: id, metrics } })).statusCode).toBe(200);
    }
    const period = 256 * 3;
    const grid = (minimum: number) => Math.ceil(minimum / period) * period;
    for (const [n, width] of [
      [6, 4 * period], // steps 5 to 15,362: a minimum of 2,560, rounded up to 4 periods
      [9, 3 * period], // minimum 1,707: 3 periods
      [12, 2 * period], // minimum 1,280: 2 periods
    ] as const) {
      const body = (await history(admin, id, "lr", { points: String(n) })).json();
      expect(body.width, `${n} buckets`).toBe(width);
      expect(body.buckets).toEqual(expectedBuckets(points, "step", n, undefined, grid).buckets);
      expect(body.buckets.length).toBeLessThanOrEqual(n);
    }
    // Past 1.5 × the minimum the width is not rounded: 25 buckets of 615 steps (a chunk is 768).
    const fine = (await history(admin, id, "lr", { points: "25" })).json();
    expect(fine.width).toBe(615);
    expect(fine.buckets).toEqual(expectedBuckets(points, "step", 25).buckets);
    // Over time (17 ms apart: a grid of 4,352 ms) and in a zoom off the grid: exact as ever.
    const byTime = (await history(admin, id, "lr", { axis: "time", points: "10" })).json();
    expect(byTime.buckets).toEqual(expectedBuckets(points, "time", 10, undefined, (m) => Math.ceil(m / (256 * 17)) * 256 * 17).buckets);
    const zoom = (await history(admin, id, "lr", { startStep: "1000", endStep: "9000", points: "4" })).json();
    expect(zoom.width).toBe(2001);
    expect(zoom.buckets).toEqual(expectedBuckets(points, "step", 4, [1000, 9000]).buckets);
  });

  it("refuses bad input: a missing run or key (404), points out of range and a backwards range (400)", async () => {
    const noRun = await history(admin, missingRun, "train/loss");
    expect(noRun.statusCode).toBe(404);
    expect(noRun.json().error.code).toBe("NOT_FOUND");
    expect(noRun.body).toContain(missingRun);
    const noKey = await history(admin, runId, "val/loss");
    expect(noKey.statusCode).toBe(404);
    expect(noKey.json().error.code).toBe("NOT_FOUND");
    expect(noKey.body).toContain("val/loss");
    for (const points of ["0", "10001", "2.5", "many"]) {
      const res = await history(admin, runId, "train/loss", { points });
      expect(res.statusCode, points).toBe(400);
      expect(res.json().error.code).toBe("INVALID_INPUT");
    }
    expect((await history(admin, runId, "train/loss", { points: "10000" })).statusCode).toBe(200);
    expect((await history(admin, runId, "train/loss", { startStep: "10", endStep: "5" })).statusCode).toBe(400);
    expect((await history(admin, runId, "train/loss", { axis: "wall" })).statusCode).toBe(400);
  });

  it("answers another team's member exactly as for a missing run", async () => {
    const hidden = await history(other, runId, "train/loss");
    const missing = await history(other, missingRun, "train/loss");
    expect(missing.statusCode).toBe(404);
    expect({ status: hidden.statusCode, body: hidden.body.replaceAll(runId, missingRun) }).toEqual({ status: 404, body: missing.body });
  });

  it("refuses a get-history page token from another history (400), on MLflow's route and Paved's", async () => {
    const second = await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/create", headers: admin, payload: { experiment_id: "0", start_time: 1 } });
    const otherRun: string = second.json().run.info.run_id;
    await app.server.inject({ method: "POST", url: "/api/2.0/mlflow/runs/log-metric", headers: admin, payload: { run_id: otherRun, key: "train/loss", value: 1, step: 0, timestamp: 1 } });
    const mlflow = (run: string, key: string, query: Record<string, string>) =>
      app.server.inject({ method: "GET", url: `/api/2.0/mlflow/metrics/get-history?${new URLSearchParams({ run_id: run, metric_key: key, ...query })}`, headers: admin });
    const first = (await mlflow(runId, "train/loss", { max_results: "10" })).json();
    expect(first.next_page_token).toEqual(expect.any(String));
    expect((await mlflow(runId, "train/loss", { max_results: "10", page_token: first.next_page_token })).statusCode).toBe(200);
    for (const [run, key] of [
      [otherRun, "train/loss"],
      [runId, "other"],
    ] as const) {
      const res = await mlflow(run, key, { page_token: first.next_page_token });
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe("INVALID_PARAMETER_VALUE");
    }
    // A token of another kind of query (a runs/search offset) does not page a history either.
    const foreign = Buffer.from(JSON.stringify({ offset: 10 })).toString("base64url");
    expect((await mlflow(runId, "train/loss", { page_token: foreign })).statusCode).toBe(400);
    const paved = await app.server.inject({ method: "GET", url: `/api/v1/runs/${otherRun}/metrics/train%2Floss?pageToken=${first.next_page_token}`, headers: admin });
    expect(paved.statusCode).toBe(400);
    expect(paved.json().error.code).toBe("INVALID_INPUT");
  });
});
