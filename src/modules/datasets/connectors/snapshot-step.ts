import { z } from "zod";
import { isPlatformError, type Principal } from "../../../core/index.ts";
import { authorize } from "../../identity/index.ts";
import { aliasSchema, datasetNameSchema } from "../schema.ts";
import { snapshotIntoDataset, type SnapshotRoutesDeps } from "./snapshot-routes.ts";

/** A pipeline step's body: `snapshot: { dataset, spec, alias?, description? }`. */
export const SnapshotStepBody = z.strictObject({
  /** The dataset the snapshot becomes a version of (created in the pipeline's team when new). */
  dataset: datasetNameSchema,
  /** The connector spec (kind local, postgres or s3), as `paved datasets snapshot -f` takes it. */
  spec: z.record(z.string(), z.unknown()),
  alias: aliasSchema.optional(),
  description: z.string().max(2000).optional(),
});

type Observation = { state: "running" } | { state: "succeeded"; outputs: Record<string, unknown> } | { state: "failed"; message: string };

/** What the pipelines controller tells a step (the fields this step uses of its StepContext). */
interface StepContextLike {
  team: string;
  principal: Principal;
  startKey: string;
}

/**
 * The pipelines' `snapshot:` step kind (registered by app.ts): runs a connector as the run's starter
 * and outputs the version (`dataset`, `version`, `ref`, `digest`, `existing`). The work runs beside
 * the controller (a long snapshot holds up no other step), followed by the step's start key. A
 * restart mid-snapshot fails the attempt, and a retry makes no second version of unchanged data
 * (the same files answer the existing one).
 */
export function snapshotStep(deps: SnapshotRoutesDeps) {
  const inFlight = new Map<string, { observation: Observation; abort: AbortController }>();
  const launch = (body: unknown, ctx: StepContextLike) => {
    const parsed = SnapshotStepBody.parse(body);
    const abort = new AbortController();
    const entry = { observation: { state: "running" } as Observation, abort };
    inFlight.set(ctx.startKey, entry);
    void (async () => {
      try {
        const resource = await deps.datasets.creationResource(parsed.dataset, ctx.team, ctx.principal);
        authorize(ctx.principal, "datasets:write", resource);
        const version = await snapshotIntoDataset(deps, {
          name: parsed.dataset,
          team: resource.team!,
          spec: parsed.spec,
          description: parsed.description,
          alias: parsed.alias,
          createdBy: ctx.principal.onBehalfOf ?? ctx.principal.name,
          signal: abort.signal,
        });
        entry.observation = { state: "succeeded", outputs: { dataset: version.dataset, version: version.version, ref: `datasets:/${version.dataset}@${version.version}`, digest: version.digest, existing: version.existing ?? false } };
      } catch (error) {
        entry.observation = { state: "failed", message: isPlatformError(error) ? `${error.message} [${error.code}]` : `the snapshot failed: ${(error as Error).message}` };
      }
    })();
    return entry;
  };
  return {
    kind: "snapshot",
    summary: "runs a dataset connector (local, postgres, s3) and stores what it read as the dataset's next version",
    schema: SnapshotStepBody,
    outputs: () => ["dataset", "version", "ref", "digest", "existing"],
    async start(body: unknown, ctx: StepContextLike) {
      launch(body, ctx);
      return { handle: ctx.startKey };
    },
    async observe(handle: string): Promise<Observation> {
      const entry = inFlight.get(handle);
      if (!entry) return { state: "failed", message: "the server restarted during the snapshot; retried if the step has retries left (a snapshot of unchanged data answers the same version)" };
      if (entry.observation.state !== "running") inFlight.delete(handle);
      return entry.observation;
    },
    async cancel(handle: string) {
      inFlight.get(handle)?.abort.abort();
      inFlight.delete(handle);
    },
  };
}
