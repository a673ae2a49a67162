import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { isPlatformError } from "../../core/index.ts";
import { codeFiles, jobSpecSchema, type JobService, type JobSpec } from "../compute/index.ts";
import type { StepKind } from "./steps.ts";

/** A job step's body: the job spec as `paved apply` takes it; `name` and `team` default to the pipeline's. */
const jobStepSchema = jobSpecSchema.partial({ name: true });

/** A step's job name: `<pipeline>-<step>`, cut to a job name's 63 characters. */
function jobName(pipeline: string, stepKey: string): string {
  const raw = `${pipeline}-${stepKey}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-");
  return raw.slice(0, 63).replace(/^-+|-+$/g, "") || "pipeline-step";
}

/**
 * `job:` steps: the job spec, unchanged, submitted through compute (the team's queue, quota and
 * fair share) as whoever started the run, under the step's start key as its job id. Outputs:
 * `job_id`, `run_id`, `artifacts` (`runs:/<run>/outputs`, the folder PAVED_OUTPUT_DIR fills).
 * Its code (the working folder's files, as a job's code snapshot takes them) and the digests of the
 * dataset versions it reads are part of its cache key.
 */
export function jobStep(jobs: JobService): StepKind {
  return {
    kind: "job",
    summary: "runs a job (the job spec, as `paved apply -f job.yaml` takes it)",
    schema: jobStepSchema,
    idPrefix: "job",
    outputs: () => ["job_id", "run_id", "artifacts"],
    async codeDigest(body, team) {
      const spec = body as JobSpec;
      const hash = createHash("sha256");
      // The registered dataset versions it reads, as their references resolve now.
      for (const input of await jobs.datasetDigests(spec, team)) hash.update(input).update("\0");
      // The same files a job's code snapshot holds (git's tracked and untracked-not-ignored files, bounded).
      for (const rel of (await codeFiles(spec.workingDir)).sort()) {
        hash.update(rel).update("\0");
        hash.update(await readFile(join(spec.workingDir, rel)).catch(() => Buffer.from("(unreadable)")));
        hash.update("\0");
      }
      return hash.digest("hex");
    },
    async start(body, ctx) {
      const given = body as JobSpec & { name?: string };
      const spec: JobSpec = { ...given, name: given.name ?? jobName(ctx.pipeline, ctx.stepKey), team: ctx.team, experiment: given.experiment ?? ctx.pipeline };
      try {
        await jobs.submit(spec, ctx.principal, { jobId: ctx.startKey, runTags: { "paved.pipeline": ctx.pipeline, "paved.pipeline_run": ctx.runId, "paved.pipeline_step": ctx.stepKey } });
      } catch (error) {
        // Submitted before a restart (the job exists under this key): adopted.
        if (!(isPlatformError(error) && error.code === "CONFLICT" && (await jobs.get(ctx.startKey).catch(() => undefined)))) throw error;
      }
      return { handle: ctx.startKey };
    },
    async observe(handle) {
      const job = await jobs.get(handle);
      if (job.phase === "SUCCEEDED") return { state: "succeeded", outputs: { job_id: job.id, run_id: job.runId ?? "", artifacts: job.runId ? `runs:/${job.runId}/outputs` : "" } };
      if (job.phase === "FAILED" || job.phase === "CANCELLED") return { state: "failed", message: `job ${job.id} ${job.phase.toLowerCase()}${job.message ? `: ${job.message}` : ""}` };
      return { state: "running" };
    },
    async cancel(handle, ctx, reason) {
      await jobs.stop(handle, { type: "PipelineCancelled", message: `pipeline run ${ctx.runId} stopped step ${ctx.stepKey}: ${reason}` }).catch((error: unknown) => {
        if (!(isPlatformError(error) && error.code === "NOT_FOUND")) throw error;
      });
    },
    async logs(handle, opts) {
      return (await jobs.readLogs(handle, opts.limitBytes ? { limitBytes: opts.limitBytes } : {})).text;
    },
  };
}
