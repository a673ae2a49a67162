// Failover bench (issue 14, item 4): how long the API refuses writes after kill -9 of the control
// plane, with three replicas on one PostgreSQL (a follower takes over) beside one `paved up` on the
// same database that its service manager starts again at once (the restart a single control
// plane needs). The write is MLflow's experiments/create, sent every 10 ms to a replica that was
// not killed (to the restarted process for the single one) until one succeeds.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { ROOT, nowMs, printTable, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult, type PavedProcess } from "./support.ts";

/** PostgreSQL: BENCH_DATABASE_URL, or the throwaway cluster the tests use (scripts/pg-up.sh). */
async function freshDatabase(): Promise<string> {
  const admin = process.env.BENCH_DATABASE_URL ?? execFileSync("bash", [`${ROOT}scripts/pg-up.sh`], { encoding: "utf8" }).trim().split("\n").at(-1)!;
  const name = `paved_bench_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${name}`);
  await client.end();
  return admin.replace(/\/[^/]*$/, `/${name}`);
}

async function role(p: PavedProcess): Promise<string> {
  try {
    return ((await (await fetch(`${p.url}/api/v1/health`)).json()) as { role: string }).role;
  } catch {
    return "down";
  }
}

/** Milliseconds from now until a write through `url()` succeeds. */
async function untilWritable(url: () => string | undefined, token: string, t0: number): Promise<number> {
  for (let i = 0; ; i++) {
    const base = url();
    if (base) {
      try {
        const res = await fetch(`${base}/api/2.0/mlflow/experiments/create`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ name: `failover-${randomBytes(6).toString("hex")}` }),
        });
        await res.arrayBuffer();
        if (res.ok) return nowMs() - t0;
      } catch {
        // not listening (yet)
      }
    }
    if (nowMs() - t0 > 60_000) throw new Error("no write succeeded within 60 s of the kill");
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const kills = Math.max(3, Math.round(10 * options.scale));
  const token = randomBytes(24).toString("base64url");
  const shared = tempDir("failover");
  const dataDir = `${shared.path}/data`;
  // Replicas share a data dir; the data plane is not part of this measure.
  const config = { databaseUrl: await freshDatabase(), serving: { dataPlane: { processes: 0 } } };
  const replicas: PavedProcess[] = [];
  const single: PavedProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) replicas.push(await startPaved({ name: `failover-${i}`, config, dataDir, token }));
    const replicated: number[] = [];
    const elected: number[] = [];
    for (let k = 0; k < kills; k++) {
      const roles = await Promise.all(replicas.map(role));
      const leader = roles.indexOf("leader");
      if (leader < 0) throw new Error(`no replica leads: ${roles.join(", ")}`);
      const others = replicas.filter((_, i) => i !== leader);
      const t0 = nowMs();
      await replicas[leader]!.kill9();
      let turn = 0;
      const electedAt = (async () => {
        for (;;) {
          const now = await Promise.all(others.map(role));
          if (now.includes("leader")) return nowMs() - t0;
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      replicated.push(await untilWritable(() => others[turn++ % others.length]!.url, token, t0));
      elected.push(await electedAt);
      // Its service manager starts it again; it follows.
      replicas[leader] = await startPaved({ name: `failover-${leader}`, config, dataDir, token });
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const r of replicas.splice(0)) await r.stop();

    // The same database with one control plane, started again right after each kill.
    const alone = { ...config, databaseUrl: await freshDatabase() };
    const singleDir = `${shared.path}/single`;
    single.push(await startPaved({ name: "failover-single", config: alone, dataDir: singleDir, token }));
    const restarted: number[] = [];
    for (let k = 0; k < kills; k++) {
      const t0 = nowMs();
      await single[0]!.kill9();
      let next: PavedProcess | undefined;
      const starting = startPaved({ name: "failover-single", config: alone, dataDir: singleDir, token }).then((p) => (next = p));
      restarted.push(await untilWritable(() => next?.url, token, t0));
      single[0] = await starting;
    }

    const r = summarize(replicated);
    const e = summarize(elected);
    const s = summarize(restarted);
    printTable(`writes refused after kill -9 of the control plane (${kills} kills each, ms)`, ["setup", "p50", "p90", "max"], [
      ["3 replicas: a follower says it leads", round(e.p50, 0), round(e.p90, 0), round(e.max, 0)],
      ["3 replicas: a write succeeds", round(r.p50, 0), round(r.p90, 0), round(r.max, 0)],
      ["1 paved up, started again at once", round(s.p50, 0), round(s.p90, 0), round(s.max, 0)],
    ]);
    return {
      name: "failover",
      figures: { kills, electedMs: e, replicatedMs: r, restartMs: s },
      notes: [
        `each follower tries the lock every 500 ms; after the handover, the new leader starts its controllers before its first write answers`,
        `the single paved up's figure is the start of a new process (Node, migrations checked, controllers), which no replica pays`,
      ],
    };
  } finally {
    for (const p of [...replicas, ...single]) await p.stop().catch(() => undefined);
    shared.remove();
  }
}
