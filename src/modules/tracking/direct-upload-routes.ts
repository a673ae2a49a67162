import { z } from "zod";
import { S3_MAX_PARTS } from "../../artifacts/index.ts";
import { route, type RouteDefinition } from "../../core/index.ts";
import type { DirectUploadService } from "./direct-uploads.ts";
import type { TrackingService } from "./service.ts";

const PREFIXES = ["/api/2.0/mlflow-artifacts/mpu", "/ajax-api/2.0/mlflow-artifacts/mpu"];

/** int64 fields: MLflow's client sends numbers, protobuf JSON sends strings; accept both. */
const int64 = z.union([z.number(), z.string().regex(/^\d{1,16}$/)]).transform((v) => Number(v));
const partNumber = int64.pipe(z.number().int().min(1, `part numbers run from 1 to ${S3_MAX_PARTS}`).max(S3_MAX_PARTS, `part numbers run from 1 to ${S3_MAX_PARTS}`));
const fileName = z.string().min(1).max(4096).describe("the file's name; MLflow sends the local file's path, whose last segment names the artifact");
const uploadId = z.string().min(1).max(2048).describe("what mpu/create answered");

const schema = {
  folder: z.object({ "*": z.string().max(4096) }),
  create: z.object({
    path: fileName,
    num_parts: int64.pipe(
      z
        .number()
        .int()
        .min(1, `num_parts must be from 1 to ${S3_MAX_PARTS}`)
        .max(S3_MAX_PARTS, `num_parts must be at most ${S3_MAX_PARTS} (S3's most parts in one upload); use larger parts (at least 5 MiB each but the last)`),
    ),
  }),
  complete: z.object({
    path: fileName,
    upload_id: uploadId,
    parts: z
      .array(z.object({ part_number: partNumber, etag: z.string().min(1).max(1024), url: z.string().max(16384).optional() }))
      .min(1, "parts is empty; send every part's part_number with the ETag its PUT answered")
      .max(S3_MAX_PARTS),
  }),
  abort: z.object({ path: fileName, upload_id: uploadId }),
};

/**
 * MLflow's proxied multipart upload (`MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true`): create answers
 * an upload id and a presigned URL per part, the client PUTs the parts straight to the object
 * store, then completes (or aborts). The path is the folder, the body's `path` the file's name.
 */
export function directUploadRoutes(tracking: TrackingService, uploads: DirectUploadService): RouteDefinition[] {
  const common = {
    action: "runs:write" as const,
    params: schema.folder,
    // Who may write there decides, as for a PUT through the proxy; another team's run answers as missing.
    resource: async ({ params }: { params: { "*": string } }) => tracking.proxyResource(params["*"]),
    errorStyle: "mlflow" as const,
    tags: ["mlflow"],
  };
  const routes = (prefix: string): RouteDefinition[] => [
    route({
      ...common,
      method: "POST",
      url: `${prefix}/create/*`,
      summary: "MLflow artifact proxy: start a multipart upload straight to the object store (S3 store only); one presigned URL per part",
      body: schema.create,
      handler: async ({ params, body }) => {
        const created = await uploads.create(params["*"], body.path, body.num_parts);
        return {
          upload_id: created.uploadId,
          credentials: created.parts.map((p) => ({ url: p.url, part_number: p.partNumber, headers: p.headers })),
        };
      },
    }),
    route({
      ...common,
      method: "POST",
      url: `${prefix}/complete/*`,
      summary: "MLflow artifact proxy: finish a multipart upload (checks the parts, charges the storage quota, records the file)",
      body: schema.complete,
      handler: async ({ params, body }) => {
        await uploads.complete(
          params["*"],
          body.path,
          body.upload_id,
          body.parts.map((p) => ({ partNumber: p.part_number, etag: p.etag })),
        );
        return {};
      },
    }),
    route({
      ...common,
      method: "POST",
      url: `${prefix}/abort/*`,
      summary: "MLflow artifact proxy: abort a multipart upload (its parts are dropped; nothing is recorded)",
      body: schema.abort,
      handler: async ({ params, body }) => {
        await uploads.abort(params["*"], body.path, body.upload_id);
        return {};
      },
    }),
  ];
  return PREFIXES.flatMap(routes);
}
