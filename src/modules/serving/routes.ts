import { Readable } from "node:stream";
import { z } from "zod";
import { PlatformError, StreamResponse, invalidInput, route, type RouteDefinition } from "../../core/index.ts";
import {
  InferRequest,
  InferResponse,
  LoadedModelList,
  LoadedModelView,
  LoadQuery,
  ModelMetadata,
  ModelParams,
  ModelReady,
  ModelVersionParams,
  ServerLive,
  ServerReady,
} from "./schema.ts";
import type { ServingService } from "./service.ts";

export interface ServingRouteOptions {
  /** Largest infer request body, in bytes (413 beyond). */
  maxRequestBytes: number;
  /** Largest model upload, in bytes (413 beyond). */
  maxModelBytes: number;
}

const TAGS = ["serving"];
/** The request header whose value pins a caller to one side of an A/B split (like Istio's consistent-hash header). */
export const ROUTE_KEY_HEADER = "X-Paved-Route-Key";
const ROUTE_KEY_FIELD = ROUTE_KEY_HEADER.toLowerCase();

function routeKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const value = headers[ROUTE_KEY_FIELD];
  const key = Array.isArray(value) ? value[0] : value;
  if (key === undefined || key === "") return undefined;
  if (key.length > 256) throw invalidInput(`header ${ROUTE_KEY_HEADER} is ${key.length} characters long; use at most 256 (a user, session or account id)`);
  return key;
}
const OIP = { tags: TAGS, errorStyle: "oip" as const };

/**
 * KServe Open Inference Protocol v2 (REST). Server health is public (probes); model metadata,
 * readiness and inference are data-plane calls and need a token like the rest of the API.
 */
export function oipRoutes(service: ServingService, options: ServingRouteOptions): RouteDefinition[] {
  const infer = (url: string, params: typeof ModelParams | typeof ModelVersionParams) =>
    route({
      ...OIP,
      method: "POST",
      url,
      summary: "Run inference (OIP v2 infer)",
      params,
      body: InferRequest,
      bodyLimit: options.maxRequestBytes,
      response: InferResponse,
      handler: ({ params: p, body, headers }) => service.infer(p.name, "version" in p ? (p.version as string) : undefined, body, routeKey(headers)),
    });
  const metadata = (url: string, params: typeof ModelParams | typeof ModelVersionParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Model metadata: versions, platform, inputs and outputs (-1: dynamic dimension)",
      params,
      response: ModelMetadata,
      handler: async ({ params: p }) => service.metadata(p.name, "version" in p ? (p.version as string) : undefined),
    });
  const ready = (url: string, params: typeof ModelParams | typeof ModelVersionParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Model readiness",
      params,
      response: ModelReady,
      handler: async ({ params: p }) => service.ready(p.name, "version" in p ? (p.version as string) : undefined),
    });
  return [
    route({ ...OIP, method: "GET", url: "/v2/health/live", summary: "Server liveness (OIP v2)", public: true, response: ServerLive, handler: async () => ({ live: true }) }),
    route({
      ...OIP,
      method: "GET",
      url: "/v2/health/ready",
      summary: "Server readiness (OIP v2): 503 while shutting down",
      public: true,
      response: ServerReady,
      handler: async () => {
        if (!service.serverReady()) throw new PlatformError("UNAVAILABLE", "the server is shutting down");
        return { ready: true };
      },
    }),
    route({
      ...OIP,
      method: "GET",
      url: "/v2",
      summary: "Server metadata (OIP v2)",
      public: true,
      response: z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }),
      handler: async () => ({ name: "paved", version: "0.1.0", extensions: [] }),
    }),
    metadata("/v2/models/:name", ModelParams),
    metadata("/v2/models/:name/versions/:version", ModelVersionParams),
    ready("/v2/models/:name/ready", ModelParams),
    ready("/v2/models/:name/versions/:version/ready", ModelVersionParams),
    infer("/v2/models/:name/infer", ModelParams),
    infer("/v2/models/:name/versions/:version/infer", ModelVersionParams),
  ];
}

/**
 * Paved's serving API: the loaded versions, and the low-level load/unload primitive that the
 * deployment controller will drive (admin only until then).
 */
export function servingRoutes(service: ServingService, options: ServingRouteOptions): RouteDefinition[] {
  return [
    route({
      method: "GET",
      url: "/metrics",
      summary: "Serving metrics in Prometheus text format (needs a token: scrape with a bearer token)",
      tags: TAGS,
      response: z.string(),
      handler: async () => new StreamResponse(Readable.from([await service.metricsText()]), "text/plain; version=0.0.4; charset=utf-8"),
    }),
    route({
      method: "GET",
      url: "/api/v1/serving/models",
      summary: "The model versions loaded for serving",
      tags: TAGS,
      response: LoadedModelList,
      handler: async () => ({ models: service.list() }),
    }),
    route({
      method: "PUT",
      url: "/api/v1/serving/models/:name/versions/:version",
      summary: "Load (or replace) a model version from the .onnx bytes in the body (admin; the deployment controller's primitive)",
      tags: TAGS,
      params: ModelVersionParams,
      query: LoadQuery,
      rawBody: true,
      roles: ["admin"],
      response: LoadedModelView,
      handler: async ({ params, query, stream }) => {
        const bytes = await readLimited(stream!, options.maxModelBytes);
        return service.load({ name: params.name, version: params.version, bytes, ...query });
      },
    }),
    route({
      method: "DELETE",
      url: "/api/v1/serving/models/:name/versions/:version",
      summary: "Unload a model version (admin)",
      tags: TAGS,
      params: ModelVersionParams,
      roles: ["admin"],
      response: z.object({ name: z.string(), version: z.string(), unloaded: z.literal(true) }),
      handler: async ({ params }) => {
        await service.unload(params.name, params.version);
        return { name: params.name, version: params.version, unloaded: true as const };
      },
    }),
  ];
}

async function readLimited(stream: Readable, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw new PlatformError("PAYLOAD_TOO_LARGE", `the model is larger than ${limit} bytes; raise serving.maxModelBytes in the configuration`);
    }
    chunks.push(chunk as Buffer);
  }
  if (size === 0) throw new PlatformError("INVALID_INPUT", "the body is empty; send the .onnx file as the request body");
  return new Uint8Array(Buffer.concat(chunks));
}
