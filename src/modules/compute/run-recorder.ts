import type { Readable } from "node:stream";

/**
 * Where compute records a job's run. The tracking module's TrackingService satisfies this
 * structurally; compute names the port so it never imports tracking (app.ts connects them).
 */
export interface RunRecorder {
  /**
   * The experiment's id, creating it in `team` when it does not exist. An experiment of that name
   * in another team is ALREADY_EXISTS (names are global, as in MLflow): the job must pick another.
   */
  ensureExperiment(name: string, team: string): Promise<string>;
  createRun(input: {
    experimentId: string;
    runName: string;
    userId: string;
    jobId?: string;
    source?: { commit?: string; dirty?: boolean; entrypoint?: string };
    tags?: Record<string, string>;
    status?: "SCHEDULED" | "RUNNING";
  }): Promise<{ runId: string; artifactUri: string }>;
  /** Marks the run RUNNING when the job's process starts. */
  updateRun(runId: string, patch: { status: "RUNNING" }): Promise<unknown>;
  logParams(runId: string, params: Record<string, string>): Promise<void>;
  logMetrics(runId: string, metrics: { key: string; value: number; step: number; timestamp: number }[]): Promise<void>;
  setTags(runId: string, tags: Record<string, string>): Promise<void>;
  logInputs(runId: string, inputs: { name: string; digest: string; sourceType: string; source: string }[]): Promise<void>;
  putArtifact(runId: string, path: string, body: Readable | Buffer): Promise<{ digest: string; size: number }>;
  finishRun(runId: string, status: "FINISHED" | "FAILED" | "KILLED", endTime: number): Promise<void>;
}

/** Per-job API tokens (MLFLOW_TRACKING_TOKEN), valid while the job runs. */
export interface JobTokens {
  mintToken(jobId: string): Promise<string>;
  revokeToken(jobId: string): Promise<void>;
}
