// Sweep bench (issue 13, "Done when"): a 1,000-trial grid sweep of trivial trials (`sh -c 'date
// +%s%N; echo paved.metric loss=$X'`, each printing its own start time and its objective) on the local executor of a real `paved up`, and what the
// platform adds per trial: the sweep controller's reaction (a trial ended -> the next one submitted),
// the job's queue (submitted -> the process's own clock), and the whole wall time beside the
// trials' own run time.
import { HttpClient, nowMs, printTable, round, startPaved, summarize, tempDir, type BenchOptions, type BenchResult } from "./support.ts";

const TIMESTAMP = /^(\d{18,20})\s*$/m;

interface Trial {
  index: number;
  jobId: string;
  phase: string;
}
interface Sweep {
  id: string;
  phase: string;
  trials: Trial[];
  message: string | null;
}
interface Job {
  id: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const trials = Math.max(20, Math.round(1000 * options.scale));
  const parallelism = 8;
  const intervalSeconds = 0.05;
  const paved = await startPaved({ name: "sweep", config: { sweeps: { intervalSeconds } } });
  const work = tempDir("sweep-trials");
  try {
    const client = new HttpClient(paved.url, paved.token, 4);
    const t0 = nowMs();
    const created = await client.request<Sweep>("POST", "/api/v1/sweeps", {
      name: "bench-sweep",
      method: "grid",
      objective: { metric: "loss", goal: "minimize" },
      parameters: { x: { distribution: "int", min: 1, max: trials } },
      parallelism,
      // Its start time, then its objective: x itself (the best trial is x=1).
      trial: { command: ["/bin/sh", "-c", 'date +%s%N; echo "paved.metric loss=$X"'], env: { X: "${params.x}" }, hyperparameterArgs: false, workingDir: work.path, compute: { cpus: 0.1, memory: 16 } },
    });
    let sweep: Sweep;
    let reported = 0;
    for (;;) {
      sweep = await client.request<Sweep>("GET", `/api/v1/sweeps/${created.id}`);
      const ended = sweep.trials.filter((t) => ["SUCCEEDED", "FAILED", "CANCELLED", "STOPPED"].includes(t.phase)).length;
      if (ended >= reported + 100) {
        reported = ended - (ended % 100);
        process.stdout.write(`  ${reported}/${trials} trials ended\n`);
      }
      if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(sweep.phase)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const wallMs = nowMs() - t0;
    const notSucceeded = sweep.trials.filter((t) => t.phase !== "SUCCEEDED");
    if (sweep.phase !== "SUCCEEDED" || sweep.trials.length !== trials || notSucceeded.length) throw new Error(`sweep ended ${sweep.phase} with ${sweep.trials.length} trials, ${notSucceeded.length} not SUCCEEDED: ${sweep.message ?? ""}`);
    const jobs: (Job & { processStart: number })[] = [];
    for (const t of sweep.trials) {
      const job = await client.request<Job>("GET", `/api/v1/jobs/${t.jobId}`);
      const { text } = await client.raw("GET", `/api/v1/jobs/${t.jobId}/logs`);
      const m = text.match(TIMESTAMP);
      if (!m?.[1]) throw new Error(`trial ${t.index} logged no timestamp`);
      jobs.push({ ...job, processStart: Number(BigInt(m[1]) / 1000n) / 1000 });
    }
    client.close();
    // Trial i (past the first `parallelism`) took the slot of the (i - parallelism)-th trial to end.
    const finished = jobs.map((j) => j.finishedAt!).sort((a, b) => a - b);
    const byCreation = [...jobs].sort((a, b) => a.createdAt - b.createdAt);
    const reaction = byCreation.slice(parallelism).map((j, i) => j.createdAt - finished[i]!);
    const queue = jobs.map((j) => j.processStart - j.createdAt);
    const runMs = jobs.map((j) => j.finishedAt! - j.startedAt!);
    const meanRun = runMs.reduce((a, b) => a + b, 0) / runMs.length;
    const perTrialWall = (wallMs * parallelism) / trials;
    const overhead = perTrialWall - meanRun;
    const stats = { reaction: summarize(reaction), queue: summarize(queue), run: summarize(runMs) };
    printTable(
      `A ${trials}-trial grid sweep of trivial trials, ${parallelism} at a time, sweeps.intervalSeconds ${intervalSeconds}: per trial, ms`,
      ["what", "p50", "p90", "p99", "max", "mean"],
      [
        ["trial ended -> next trial submitted (sweep controller)", stats.reaction.p50, stats.reaction.p90, stats.reaction.p99, stats.reaction.max, stats.reaction.mean],
        ["trial submitted -> its process's own clock (job queue, spawn)", stats.queue.p50, stats.queue.p90, stats.queue.p99, stats.queue.max, stats.queue.mean],
        ["job started -> ended (the trial itself, as the job controller sees it)", stats.run.p50, stats.run.p90, stats.run.p99, stats.run.max, stats.run.mean],
      ],
    );
    const notes = [
      `${trials} trials in ${round(wallMs / 1000, 1)} s (${round((trials * 1000) / wallMs, 1)} trials/s) at parallelism ${parallelism}: ${round(perTrialWall, 1)} ms of a slot per trial, of which ${round(meanRun, 1)} ms the trial's job ran; queue overhead per trial ${round(overhead, 1)} ms`,
      `the sweep controller looks every ${intervalSeconds * 1000} ms (sweeps.intervalSeconds): a slot waits up to that long after a trial ends (p50 ${stats.reaction.p50} ms)`,
    ];
    return {
      name: "sweep",
      figures: { trials, parallelism, intervalSeconds, wallMs: round(wallMs, 1), trialsPerSecond: round((trials * 1000) / wallMs, 2), overheadPerTrialMs: round(overhead, 1), ...stats },
      notes,
    };
  } finally {
    await paved.stop();
    work.remove();
  }
}
