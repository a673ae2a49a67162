import { Readable } from "node:stream";
import { z } from "zod";
import { PlatformError, StreamResponse, invalidInput, route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import {
  EnvironmentModelParams,
  EnvironmentModelVersionParams,
  EnvironmentParams,
  EnvironmentQuery,
  InferRequest,
  InferResponse,
  LoadedModelList,
  LoadedModelsQuery,
  LoadedModelView,
  LoadQuery,
  ModelMetadata,
  ModelParams,
  ModelReady,
  ModelVersionParams,
  ServerLive,
  ServerReady,
} from "./schema.ts";
import { DEFAULT_ENVIRONMENT, type ServingService } from "./service.ts";

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
 * Where another environment's OIP endpoint lives: the whole protocol again under this prefix, so a
 * KServe/OIP client whose base URL ends in `/environments/staging` works unchanged (as it would
 * against another KServe namespace's host). Production keeps the unprefixed `/v2/...`.
 */
export const ENVIRONMENT_PREFIX = "/environments/:environment";

type OipParams = typeof ModelParams | typeof ModelVersionParams | typeof EnvironmentModelParams | typeof EnvironmentModelVersionParams;
const versionOf = (p: object) => ("version" in p ? (p.version as string) : undefined);
const environmentOf = (p: object) => ("environment" in p ? (p.environment as string) : DEFAULT_ENVIRONMENT);

/**
 * KServe Open Inference Protocol v2 (REST), once for production (`/v2/...`) and once under
 * ENVIRONMENT_PREFIX for every other environment; each environment answers only from its own
 * loaded versions and its own deployment's split. Server health is public (probes); model
 * metadata, readiness and inference are data-plane calls and need a token like the rest of the API.
 */
export function oipRoutes(service: ServingService, options: ServingRouteOptions): RouteDefinition[] {
  const infer = (url: string, params: OipParams) =>
    route({
      ...OIP,
      method: "POST",
      url,
      summary: "Run inference (OIP v2 infer)",
      action: "serving:infer",
      params,
      // A map lookup: the team of what this endpoint serves (another team's answers as not loaded).
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      body: InferRequest,
      bodyLimit: options.maxRequestBytes,
      response: InferResponse,
      handler: ({ params: p, body, headers }) => service.infer(p.name, versionOf(p), body, routeKey(headers), environmentOf(p)),
    });
  const metadata = (url: string, params: OipParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Model metadata: versions, platform, inputs and outputs (-1: dynamic dimension)",
      action: "serving:read",
      params,
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      response: ModelMetadata,
      handler: async ({ params: p }) => service.metadata(p.name, versionOf(p), environmentOf(p)),
    });
  const ready = (url: string, params: OipParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Model readiness",
      action: "serving:read",
      params,
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      response: ModelReady,
      handler: async ({ params: p }) => service.ready(p.name, versionOf(p), environmentOf(p)),
    });
  const server = (prefix: string, params: typeof EnvironmentParams | undefined) => [
    route({ ...OIP, method: "GET", url: `${prefix}/v2/health/live`, summary: "Server liveness (OIP v2)", public: true, action: "platform:read", ...(params ? { params } : {}), response: ServerLive, handler: async () => ({ live: true }) }),
    route({
      ...OIP,
      method: "GET",
      url: `${prefix}/v2/health/ready`,
      summary: "Server readiness (OIP v2): 503 while shutting down",
      public: true,
      action: "platform:read",
      ...(params ? { params } : {}),
      response: ServerReady,
      handler: async () => {
        if (!service.serverReady()) throw new PlatformError("UNAVAILABLE", "the server is shutting down");
        return { ready: true };
      },
    }),
    route({
      ...OIP,
      method: "GET",
      url: `${prefix}/v2`,
      summary: "Server metadata (OIP v2)",
      public: true,
      action: "platform:read",
      ...(params ? { params } : {}),
      response: z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) }),
      handler: async () => ({ name: "paved", version: "0.1.0", extensions: [] }),
    }),
  ];
  const models = (prefix: string, byName: OipParams, byVersion: OipParams) => [
    metadata(`${prefix}/v2/models/:name`, byName),
    metadata(`${prefix}/v2/models/:name/versions/:version`, byVersion),
    ready(`${prefix}/v2/models/:name/ready`, byName),
    ready(`${prefix}/v2/models/:name/versions/:version/ready`, byVersion),
    infer(`${prefix}/v2/models/:name/infer`, byName),
    infer(`${prefix}/v2/models/:name/versions/:version/infer`, byVersion),
  ];
  return [
    ...server("", undefined),
    ...models("", ModelParams, ModelVersionParams),
    ...server(ENVIRONMENT_PREFIX, EnvironmentParams),
    ...models(ENVIRONMENT_PREFIX, EnvironmentModelParams, EnvironmentModelVersionParams),
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
      summary: "Serving metrics in Prometheus text format, for every team's models (needs a token: scrape with a bearer token)",
      action: "serving:read",
      tags: TAGS,
      response: z.string(),
      handler: async () => new StreamResponse(Readable.from([await service.metricsText()]), "text/plain; version=0.0.4; charset=utf-8"),
    }),
    route({
      method: "GET",
      url: "/api/v1/serving/models",
      summary: "The model versions of your teams loaded for serving, in every environment (or ?environment=)",
      action: "serving:read",
      tags: TAGS,
      query: LoadedModelsQuery,
      response: LoadedModelList,
      handler: async ({ query, principal }) => ({ models: service.list(query.environment, visibleTeams(principal, "serving:read")) }),
    }),
    route({
      method: "PUT",
      url: "/api/v1/serving/models/:name/versions/:version",
      summary:
        "Load (or replace) a model version from the .onnx bytes in the body, into one environment (?environment=, default production) for one team (?team=, default 'default'); platform admin; the deployment controller's primitive",
      tags: TAGS,
      params: ModelVersionParams,
      query: LoadQuery,
      rawBody: true,
      action: "serving:admin",
      response: LoadedModelView,
      handler: async ({ params, query, stream }) => {
        const bytes = await readLimited(stream!, options.maxModelBytes);
        return service.load({ name: params.name, version: params.version, bytes, ...query });
      },
    }),
    route({
      method: "DELETE",
      url: "/api/v1/serving/models/:name/versions/:version",
      summary: "Unload a model version from one environment (?environment=, default production; admin)",
      tags: TAGS,
      params: ModelVersionParams,
      query: EnvironmentQuery,
      action: "serving:admin",
      response: z.object({ name: z.string(), version: z.string(), environment: z.string(), unloaded: z.literal(true) }),
      handler: async ({ params, query }) => {
        const environment = query.environment ?? DEFAULT_ENVIRONMENT;
        await service.unload(params.name, params.version, environment);
        return { name: params.name, version: params.version, environment, unloaded: true as const };
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
