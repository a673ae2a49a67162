// The hot lane (hot-lane.ts) against Fastify's route, on a real `createApp` over HTTP: every request
// sent twice, to /runs/log-batch (the lane) and /runs/log-batch/ (the same route, which the lane
// leaves to Fastify: another spelling of the path), must get the same answer (status, body,
// headers), the same audit record and the same HTTP metric; and the lane must have taken the first.
import { mkdtempSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../app.ts";
import { loadConfig } from "../config/index.ts";

interface Answer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

describe("the hot lane answers as Fastify's route does", () => {
  let app: App;
  let base: string;
  let admin: string;
  let runId: string;
  /** URLs Fastify's onRequest saw: what the lane took never reaches it. */
  const fastifySaw: string[] = [];

  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "paved-hot-lane-"));
    // Every tracking write audited one by one (not summarised), so each answer's record can be compared.
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", port: 0, http: { maxBodyBytes: 64 * 1024 }, audit: { dataEvents: true } } }));
    app.server.addHook("onRequest", async (request) => void fastifySaw.push(request.url));
    base = await app.listen();
    admin = app.generatedAdminToken!;
    const experiment = (await post("/api/2.0/mlflow/experiments/create", { name: "hot-lane" })).body as { experiment_id: string };
    runId = ((await post("/api/2.0/mlflow/runs/create", { experiment_id: experiment.experiment_id })).body as { run: { info: { run_id: string } } }).run.info.run_id;
  });
  afterAll(async () => app?.close());

  async function send(path: string, body: string, headers: Record<string, string | undefined> = {}): Promise<Answer> {
    const given = { authorization: `Bearer ${admin}`, "content-type": "application/json", ...headers };
    const res = await fetch(`${base}${path}`, { method: "POST", headers: Object.fromEntries(Object.entries(given).filter((e): e is [string, string] => e[1] !== undefined)), body });
    const text = await res.text();
    const kept: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (name !== "date") kept[name] = value;
    });
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : text, headers: kept };
  }
  const post = (path: string, body: unknown) => send(path, JSON.stringify(body));

  let pairs = 0;
  /** The answer to a request sent to the lane and to Fastify, once both answers and both audit records are found the same. */
  async function both(route: string, body: string, headers: Record<string, string | undefined> = {}): Promise<Answer> {
    const n = pairs++;
    const ids = [`hot-${n}`, `cold-${n}`] as const;
    const seen = fastifySaw.length;
    const hot = await send(route, body, { ...headers, "x-request-id": ids[0] });
    const cold = await send(`${route}/`, body, { ...headers, "x-request-id": ids[1] });
    expect(fastifySaw.slice(seen)).toEqual([`${route}/`]);
    expect([hot.headers["x-request-id"], cold.headers["x-request-id"]]).toEqual(ids);
    const same = (a: Answer) => ({ ...a, headers: { ...a.headers, "x-request-id": "(given)" } });
    expect(same(hot)).toEqual(same(cold));
    const rows = await app.database.db.selectFrom("audit_events").selectAll().where("request_id", "in", ids).execute();
    const record = (id: string) => {
      const { id: _id, time: _t, request_id: _r, duration_ms: _d, ...rest } = rows.find((r) => r.request_id === id)!;
      return rest;
    };
    expect(rows).toHaveLength(2);
    expect(record(ids[0])).toEqual(record(ids[1]));
    return hot;
  }

  const LOG_BATCH = "/api/2.0/mlflow/runs/log-batch";
  const metrics = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ key: `m${i % 3}`, value: i / 7, timestamp: 1_700_000_000_000 + i, step: from + i }));

  it("stores a batch, and refuses bad JSON, a poisoned body, a bad field and a missing run alike", async () => {
    const stored = await both(LOG_BATCH, JSON.stringify({ run_id: runId, metrics: metrics(30), params: [{ key: "lr", value: "0.1" }], tags: [{ key: "t", value: "x" }] }));
    expect(stored).toMatchObject({ status: 200, body: {}, headers: { "content-type": "application/json; charset=utf-8", connection: "keep-alive" } });
    const history = (await (await fetch(`${base}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=m0`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { metrics: unknown[] };
    expect(history.metrics).toHaveLength(20); // 10 points of m0, sent twice (the same points: MLflow keeps both)

    const answers = {
      invalidJson: await both(LOG_BATCH, '{"run_id":'),
      empty: await both(LOG_BATCH, ""),
      poisoned: await both(LOG_BATCH, `{"run_id":"${runId}","metrics":[],"__proto__":{"isAdmin":true}}`),
      constructor: await both(LOG_BATCH, `{"run_id":"${runId}","tags":[{"key":"a","value":"b","constructor":{"prototype":{}}}]}`),
      notAList: await both(LOG_BATCH, JSON.stringify({ run_id: runId, metrics: 3 })),
      badPoint: await both(LOG_BATCH, JSON.stringify({ run_id: runId, metrics: [{ key: "a", value: "one" }] })),
      paramChanged: await both(LOG_BATCH, JSON.stringify({ run_id: runId, params: [{ key: "lr", value: "0.2" }] })),
      noRun: await both(LOG_BATCH, JSON.stringify({ run_id: "0".repeat(32), metrics: metrics(1) })),
    };
    expect(Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, [a.status, (a.body as { error_code: string }).error_code]]))).toEqual({
      invalidJson: [400, "INVALID_PARAMETER_VALUE"],
      empty: [400, "INVALID_PARAMETER_VALUE"],
      poisoned: [400, "INVALID_PARAMETER_VALUE"],
      constructor: [400, "INVALID_PARAMETER_VALUE"],
      notAList: [400, "INVALID_PARAMETER_VALUE"],
      badPoint: [400, "INVALID_PARAMETER_VALUE"],
      paramChanged: [400, "INVALID_PARAMETER_VALUE"],
      noRun: [404, "RESOURCE_DOES_NOT_EXIST"],
    });
    expect(answers.notAList.body).toMatchObject({ message: expect.stringContaining("metrics: expected a list of {key, value, timestamp, step} objects") });
  });

  it("refuses an unknown token, a job's token for another run and a body past the limit alike", async () => {
    const body = JSON.stringify({ run_id: runId, metrics: metrics(2) });
    expect((await both(LOG_BATCH, body, { authorization: undefined })).status).toBe(401);
    expect((await both(LOG_BATCH, body, { authorization: "Bearer pvd_not-a-token-0123456789" })).status).toBe(401);
    const job = await app.tokens.mintForJob("job-hot-lane", 60_000);
    // A job's token sees no run but its job's own.
    expect((await both(LOG_BATCH, body, { authorization: `Bearer ${job}` })).status).toBe(404);
    const large = await both(LOG_BATCH, JSON.stringify({ run_id: runId, metrics: metrics(1200) }));
    expect([large.status, (large.body as { error_code: string }).error_code]).toEqual([413, "INVALID_PARAMETER_VALUE"]);
    // log-metric is hot too.
    expect((await both("/api/2.0/mlflow/runs/log-metric", JSON.stringify({ run_id: runId, key: "single", value: 1, timestamp: 1, step: 0 }))).status).toBe(200);
  });

  it("treats a client that leaves midway through its body as Fastify does, and goes on serving", async () => {
    const leave = (path: string, id: string) =>
      new Promise<void>((resolve) => {
        const req = http.request(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${admin}`, "content-type": "application/json", "content-length": "1000", "x-request-id": id } });
        req.on("error", () => resolve());
        req.write(`{"run_id":"${runId}","metrics":[`);
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 200);
      });
    await leave(LOG_BATCH, "left-hot");
    await leave(`${LOG_BATCH}/`, "left-cold");
    let rows: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && rows.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      rows = await app.database.db.selectFrom("audit_events").selectAll().where("request_id", "in", ["left-hot", "left-cold"]).execute();
    }
    const record = (id: string) => {
      const { id: _id, time: _t, request_id: _r, duration_ms: _d, ...rest } = rows.find((r) => r.request_id === id) ?? {};
      return rest;
    };
    expect(record("left-hot")).toEqual(record("left-cold"));
    expect(record("left-hot")).toMatchObject({ status: 400 });
    expect((await both(LOG_BATCH, JSON.stringify({ run_id: runId, metrics: metrics(1) }))).status).toBe(200);
  });

  it("leaves other spellings and content types to Fastify, and names an answer with a new request id when none is given", async () => {
    const body = JSON.stringify({ run_id: runId, metrics: metrics(1) });
    expect((await send(LOG_BATCH, body)).headers["x-request-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const seen = fastifySaw.length;
    expect((await send(`${LOG_BATCH}?x=1`, body)).status).toBe(200);
    expect((await send(LOG_BATCH, body, { "content-type": "text/plain" })).status).toBe(415);
    expect((await send(LOG_BATCH, body, { "content-type": "application/json; charset=latin1" })).status).toBe(200);
    expect(fastifySaw.slice(seen)).toEqual([`${LOG_BATCH}?x=1`, LOG_BATCH, LOG_BATCH]);
  });

  it("counts each answer in the HTTP metrics as Fastify's route does", async () => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    const count = (status: number) => Number(text.match(new RegExp(`^paved_http_requests_total\\{method="POST",route="${LOG_BATCH}",status="${status}"\\} (\\d+)$`, "m"))?.[1] ?? 0);
    // Seven pairs refused as bad input, two pairs refused unauthenticated, one pair too large.
    expect([count(400), count(401), count(413)]).toEqual([14, 4, 2]);
  });

  it("leaves none of its listeners on a request it has answered (node:http keeps the request reachable, and a listener kept the body)", async () => {
    const kinds = ["data", "end", "error", "close"] as const;
    const counts = (req: http.IncomingMessage) => kinds.map((k) => req.listenerCount(k));
    const seen = new Map<string, { before: number[]; after?: number[] }>();
    const watch = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const id = String(req.headers["x-request-id"] ?? "");
      if (!id.startsWith("listeners-")) return;
      // This listener runs after the lane's, which reads the body only once authenticated.
      const entry: { before: number[]; after?: number[] } = { before: counts(req) };
      seen.set(id, entry);
      res.once("finish", () => (entry.after = counts(req)));
    };
    const fastifyBefore = fastifySaw.length;
    app.server.server.on("request", watch);
    try {
      const body = JSON.stringify({ run_id: runId, metrics: metrics(50) });
      expect((await send(LOG_BATCH, body, { "x-request-id": "listeners-stored" })).status).toBe(200);
      expect((await send(LOG_BATCH, '{"run_id":', { "x-request-id": "listeners-bad-json" })).status).toBe(400);
      expect((await send(LOG_BATCH, JSON.stringify({ run_id: "0".repeat(32), metrics: metrics(1) }), { "x-request-id": "listeners-no-run" })).status).toBe(404);
    } finally {
      app.server.server.off("request", watch);
    }
    expect(fastifySaw.slice(fastifyBefore)).toEqual([]); // the lane took all three
    expect([...seen.keys()].sort()).toEqual(["listeners-bad-json", "listeners-no-run", "listeners-stored"]);
    for (const [id, { before, after }] of seen) expect({ id, after }).toEqual({ id, after: before });
  });
});
