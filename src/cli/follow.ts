import { TERMINAL_PHASES, type Job, type PavedClient } from "../client/index.ts";
import { isPlatformError } from "../core/index.ts";
import type { CliContext } from "./context.ts";
import { formatDuration } from "./render/format.ts";

const POLL_MS = 1000;

/**
 * Follows a job to its end: says why it waits while queued, streams each attempt's log to
 * stdout as it runs, announces retries, and resolves to the finished job.
 */
export async function followJob(ctx: CliContext, client: PavedClient, jobId: string, opts: { logTo?: "stdout" | "stderr" } = {}): Promise<Job> {
  const write = opts.logTo === "stderr" ? (text: string) => void ctx.io.stderr.write(text) : ctx.out;
  const streamed = new Set<number>();
  let lastWaiting = "";
  let lastPhase = "";
  for (;;) {
    const job = await client.getJob(jobId);
    if (job.phase !== lastPhase) {
      if (job.phase === "QUEUED" && streamed.size > 0) ctx.note(`attempt ${job.attempt - 1} ended; retrying (attempt ${job.attempt} of ${job.maxAttempts})`);
      lastPhase = job.phase;
    }
    if (job.phase === "QUEUED") {
      const waiting = waitingLine(job);
      if (waiting !== lastWaiting) ctx.note(waiting);
      lastWaiting = waiting;
      await ctx.sleep(POLL_MS);
      continue;
    }
    if (job.phase === "STARTING") {
      await ctx.sleep(POLL_MS / 4);
      continue;
    }
    if (!streamed.has(job.attempt) && (job.phase === "RUNNING" || job.startedAt !== null)) {
      streamed.add(job.attempt);
      if (job.phase === "RUNNING") ctx.note(`job ${job.id} running (attempt ${job.attempt} of ${job.maxAttempts}); streaming its log (Ctrl-C detaches, the job keeps running)`);
      const follow = !TERMINAL_PHASES.has(job.phase);
      try {
        for await (const text of client.streamLogs(job.id, { follow, attempt: job.attempt })) write(text);
      } catch (error) {
        // A log the executor has not created yet: ask again on the next step.
        if (!(isPlatformError(error) && error.code === "NOT_FOUND" && follow)) throw error;
        streamed.delete(job.attempt);
        await ctx.sleep(POLL_MS / 2);
      }
      continue;
    }
    if (TERMINAL_PHASES.has(job.phase)) {
      ctx.note(outcomeLine(job));
      return job;
    }
    // The log ended before the phase changed; the controller catches up within a step.
    await ctx.sleep(POLL_MS / 2);
  }
}

/** "waiting for gpu: requested 2, free 1 of 4 (held by train-a (job_1): 3)". */
export function waitingLine(job: Job): string {
  const pending = job.pending;
  if (!pending) return `job ${job.id} queued`;
  const blocking = pending.resources.filter((r) => r.free < r.requested);
  const parts = blocking.map((r) => {
    const holders = r.heldBy.map((h) => `${h.jobId === null ? h.name : `${h.name} (${h.jobId})`}: ${h.amount}`).join(", ");
    return `${r.resource}: requested ${r.requested}, free ${r.free} of ${r.total}${holders ? ` (held by ${holders})` : ""}`;
  });
  return `job ${job.id} queued: ${pending.reason}${parts.length ? ` — ${parts.join("; ")}` : ""}`;
}

function outcomeLine(job: Job): string {
  const took = job.startedAt && job.finishedAt ? ` after ${formatDuration(job.finishedAt - job.startedAt)}` : "";
  const exit = job.exitCode !== null && job.exitCode !== undefined ? ` (exit code ${job.exitCode})` : "";
  const message = job.message ? `: ${job.message}` : "";
  const run = job.runId ? `; see \`paved runs show ${job.runId}\`` : "";
  return `job ${job.id} ${job.phase.toLowerCase()}${took}${exit}${message}${run}`;
}
