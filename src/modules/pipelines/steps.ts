import { z } from "zod";
import { invalidInput, type Principal } from "../../core/index.ts";

/** What a step's kind is told when it starts or is followed. */
export interface StepContext {
  runId: string;
  pipeline: string;
  team: string;
  /** Who started the run (their teams now): steps act as them. */
  principal: Principal;
  /** The step instance: `train`, or `train[2]` in a fan-out. */
  stepKey: string;
  attempt: number;
  /**
   * An id chosen and stored before the step starts: a kind that can start its work under a given id
   * (a job) uses it, so a restart that starts the step again adopts the work instead of doubling it.
   */
  startKey: string;
}

export type StepObservation = { state: "running" } | { state: "succeeded"; outputs: Record<string, unknown> } | { state: "failed"; message: string };

/**
 * A kind of step (`job:`, `evaluate:`, `register:`, `deploy:`, `echo:`, and kinds other modules
 * register: `snapshot:`, `predict:`). Its body is checked by `schema`; `start` begins the work and
 * returns what `observe` and `cancel` follow it by (a job id, an evaluation id).
 */
export interface StepKind {
  readonly kind: string;
  /** One line for `paved pipelines` docs and errors. */
  readonly summary: string;
  /** The body's schema (applied to the body with its references resolved). */
  readonly schema: z.ZodType;
  /**
   * The step ends inside `start` and touches nothing outside its outputs (echo): the controller
   * records its start and end in one write, batched with others of the same pass, since running it
   * again after a crash changes nothing.
   */
  readonly instant?: boolean;
  /** The prefix of the start key (`job` for a job: the key becomes the job's id). */
  readonly idPrefix?: string;
  /** The outputs a later step may reference; undefined: whatever the body names (echo). */
  outputs(body: unknown): readonly string[] | undefined;
  /**
   * A digest of what the step runs and reads beyond its body, part of its cache key: a job's working
   * folder, and the dataset versions its references name now (an alias that moved is new input).
   */
  codeDigest?(body: unknown, team: string): Promise<string | undefined>;
  start(body: unknown, ctx: StepContext): Promise<{ handle: string; observation?: StepObservation }>;
  observe(handle: string, ctx: StepContext): Promise<StepObservation>;
  cancel?(handle: string, ctx: StepContext, reason: string): Promise<void>;
  logs?(handle: string, opts: { limitBytes?: number | undefined }): Promise<string>;
}

/** The step kinds a pipeline may use, keyed by the YAML key that names them. app.ts fills it. */
export class StepRegistry {
  private readonly kinds = new Map<string, StepKind>();

  register(kind: StepKind): void {
    if (this.kinds.has(kind.kind)) throw new Error(`step kind '${kind.kind}' is registered twice`);
    this.kinds.set(kind.kind, kind);
  }

  has(kind: string): boolean {
    return this.kinds.has(kind);
  }

  get(kind: string): StepKind {
    const found = this.kinds.get(kind);
    if (!found) throw invalidInput(`step kind '${kind}' is not known here; known kinds: ${this.names().join(", ")}`, { known: this.names() });
    return found;
  }

  names(): string[] {
    return [...this.kinds.keys()].sort();
  }
}

const echoValue = z.union([z.string().max(4096), z.number(), z.boolean(), z.array(z.unknown()).max(1000)]);

/**
 * `echo: { key: value, … }`: succeeds at once with its (resolved) body as its outputs. It runs no
 * process: it passes values along a pipeline, and it is the trivial step of the pipelines bench,
 * which measures the scheduler rather than process start-up.
 */
export const echoStep: StepKind = {
  kind: "echo",
  instant: true,
  summary: "outputs its fields as given (references resolved); runs nothing",
  schema: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, "echo's keys are output names: letters, digits and '_'"), echoValue).refine((o) => Object.keys(o).length <= 100, "echo has at most 100 outputs"),
  outputs: (body) => (body && typeof body === "object" && !Array.isArray(body) ? Object.keys(body) : []),
  async start(body) {
    return { handle: "echo", observation: { state: "succeeded", outputs: body as Record<string, unknown> } };
  },
  async observe() {
    // Only reached after a restart between start and recording its outputs: echo has nothing to wait for.
    return { state: "failed", message: "interrupted by a restart; retried if the step has retries left" };
  },
};
