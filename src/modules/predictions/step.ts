import { z } from "zod";
import { authorize } from "../identity/index.ts";
import type { StepKind } from "../pipelines/index.ts";
import { predictionSpecSchema } from "./schema.ts";
import type { PredictionService } from "./service.ts";

/**
 * A pipeline's `predict:` step: the body of POST /api/v1/predictions (`model`, `version`, `input`,
 * `output`, `features`, `keep`), e.g. `version: ${{ steps.register.outputs.version }}`. It queues a
 * prediction as the run's starter and follows it. Outputs: `prediction_id`, `output`
 * (datasets:/<name>@<n>), `dataset`, `version`, `rows`, `rows_per_second`.
 */
export function predictStep(service: PredictionService): StepKind {
  const schema = predictionSpecSchema.extend({ version: z.union([z.string().min(1).max(64), z.number().int().min(1)]).transform(String) });
  return {
    kind: "predict",
    summary: "runs a model version over a dataset version into a new dataset version (paved predict)",
    schema,
    idPrefix: "pred",
    outputs: () => ["prediction_id", "output", "dataset", "version", "rows", "rows_per_second"],
    async start(body, ctx) {
      const spec = predictionSpecSchema.parse(body);
      authorize(ctx.principal, "predictions:write", await service.newResource(spec));
      const prediction = await service.create(spec, ctx.principal);
      return { handle: prediction.id };
    },
    async observe(handle) {
      const p = await service.get(handle);
      if (p.phase === "SUCCEEDED") {
        return { state: "succeeded", outputs: { prediction_id: p.id, output: p.output, dataset: p.outputDataset, version: p.outputVersion, rows: p.rows, rows_per_second: p.rowsPerSecond } };
      }
      if (p.phase === "FAILED" || p.phase === "CANCELLED") return { state: "failed", message: `prediction ${p.id} ${p.phase}${p.message ? `: ${p.message}` : ""} (see \`paved predictions show ${p.id}\`)` };
      return { state: "running" };
    },
    async cancel(handle, ctx) {
      await service.cancel(handle, ctx.principal);
    },
  };
}
