import { z } from "zod";

/** What a stream may follow: each topic is a kind of resource (and the ones that change with it). */
export const TOPICS = ["jobs", "runs", "deployments", "workspaces", "pipelines", "models"] as const;
export type Topic = (typeof TOPICS)[number];

/** The kinds of change each topic carries. */
export const EVENT_KINDS = ["job", "run", "deployment", "workspace", "pipeline", "pipeline-run", "pipeline-step", "model", "model-version", "evaluation"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * One change notification: which resource changed, its team, its state now, when it changed. It
 * says only that something changed; a client reads the resource through the API to see it.
 */
export const ChangeEvent = z.object({
  topic: z.enum(TOPICS),
  kind: z.enum(EVENT_KINDS),
  /** The resource's id: a job's, a run's, a deployment's; `<model>/<version>` for a model version; `<run>/<step>` for a pipeline step. */
  id: z.string(),
  team: z.string(),
  /** Its phase or status now (RUNNING, Progressing, Passed...), when it has one. */
  state: z.string().optional(),
  /** The resource a part belongs to: a pipeline step's run, a model version's or an evaluation's model. */
  parent: z.string().optional(),
  /** When it changed (ms since the epoch), as the database records it. */
  at: z.number(),
});
export type ChangeEvent = z.infer<typeof ChangeEvent>;

export const EventsQuery = z.object({
  /** Comma-separated topics, e.g. `jobs,runs`. */
  topics: z.string().min(1).max(200),
  /** Resume after this event (a browser's EventSource sends the Last-Event-ID header instead). */
  lastEventId: z.string().max(64).optional(),
});
