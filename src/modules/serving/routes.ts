import { Readable } from "node:stream";
import { z } from "zod";
import { HttpResponse, PlatformError, StreamResponse, invalidInput, route, type RouteDefinition } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { EXTENSIONS, INFERENCE_HEADER, decodeInferRequest, encodeInferAnswer, type EncodedAnswer } from "./binary-tensor-data.ts";
import { COMPRESS_FROM_BYTES, acceptedEncoding, compress, readInferBody } from "./infer-body.ts";
import {
  EnvironmentModelParams,
  EnvironmentModelVersionParams,
  EnvironmentParams,
  EnvironmentQuery,
  LoadedModelList,
  LoadedModelsQuery,
  LoadedModelView,
  LoadQuery,
  ModelConfig,
  ModelMetadata,
  ModelParams,
  ModelReady,
  ModelStatisticsList,
  ModelVersionParams,
  OipInferResponse,
  ServerLive,
  ServerMetadata,
  ServerReady,
} from "./schema.ts";
import { DEFAULT_ENVIRONMENT, type ServingPlane, type ServingService } from "./service.ts";

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
      summary:
        "Run inference (OIP v2 infer): a JSON body (whatever its Content-Type, or none), or Triton's binary tensor data (JSON header of Inference-Header-Content-Length bytes, then the tensors' bytes); Content-Encoding gzip or deflate",
      action: "serving:infer",
      params,
      // A map lookup: the team of what this endpoint serves (another team's answers as not loaded).
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      // The body is read here, not by the server: its framing (JSON, or JSON and binary tensor data) and its compression decide how.
      rawBody: true,
      response: OipInferResponse,
      handler: async ({ params: p, headers, stream }) => answerInfer(service, { name: p.name, version: versionOf(p), environment: environmentOf(p) }, headers, stream, options.maxRequestBytes),
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
  const config = (url: string, params: OipParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Model configuration extension: the version's configuration as Triton's ModelConfig JSON (inputs, outputs, max_batch_size, instances)",
      action: "serving:read",
      params,
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      response: ModelConfig,
      handler: async ({ params: p }) => service.modelConfig(p.name, versionOf(p), environmentOf(p)),
    });
  const stats = (url: string, params: OipParams) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Statistics extension: counts and cumulative durations of the model's loaded versions (or one version)",
      action: "serving:read",
      params,
      resource: async ({ params: p }) => service.endpointResource(p.name, environmentOf(p)),
      response: ModelStatisticsList,
      handler: async ({ params: p }) => ({ model_stats: service.statistics(p.name, versionOf(p), environmentOf(p)) }),
    });
  const allStats = (url: string, params: typeof EnvironmentParams | undefined) =>
    route({
      ...OIP,
      method: "GET",
      url,
      summary: "Statistics extension: every version loaded in the environment for your teams",
      action: "serving:read",
      ...(params ? { params } : {}),
      response: ModelStatisticsList,
      handler: async ({ params: p, principal }) => ({ model_stats: service.statistics(undefined, undefined, environmentOf(p ?? {}), visibleTeams(principal, "serving:read")) }),
    });
  const models = (prefix: string, byName: OipParams, byVersion: OipParams, environment: typeof EnvironmentParams | undefined) => [
    metadata(`${prefix}/v2/models/:name`, byName),
    metadata(`${prefix}/v2/models/:name/versions/:version`, byVersion),
    ready(`${prefix}/v2/models/:name/ready`, byName),
    ready(`${prefix}/v2/models/:name/versions/:version/ready`, byVersion),
    infer(`${prefix}/v2/models/:name/infer`, byName),
    infer(`${prefix}/v2/models/:name/versions/:version/infer`, byVersion),
    config(`${prefix}/v2/models/:name/config`, byName),
    config(`${prefix}/v2/models/:name/versions/:version/config`, byVersion),
    // As in Triton, /v2/models/stats is the statistics of every model (a model named 'stats' keeps its versioned paths).
    allStats(`${prefix}/v2/models/stats`, environment),
    stats(`${prefix}/v2/models/:name/stats`, byName),
    stats(`${prefix}/v2/models/:name/versions/:version/stats`, byVersion),
  ];
  return [
    ...oipServerRoutes(() => service.serverReady()),
    ...models("", ModelParams, ModelVersionParams, undefined),
    ...models(ENVIRONMENT_PREFIX, EnvironmentModelParams, EnvironmentModelVersionParams, EnvironmentParams),
  ];
}

/**
 * The OIP server routes (liveness, readiness, server metadata), public, for production and under
 * ENVIRONMENT_PREFIX: what answers them is the server they are sent to (the control plane answers
 * its own while data-plane processes serve the models).
 */
export function oipServerRoutes(ready: () => boolean): RouteDefinition[] {
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
        if (!ready()) throw new PlatformError("UNAVAILABLE", "the server is shutting down");
        return { ready: true };
      },
    }),
    route({
      ...OIP,
      method: "GET",
      url: `${prefix}/v2`,
      summary: "Server metadata (OIP v2), with the protocol extensions implemented: binary_tensor_data, model_configuration, statistics",
      public: true,
      action: "platform:read",
      ...(params ? { params } : {}),
      response: ServerMetadata,
      handler: async () => ({ name: "paved", version: "0.1.0", extensions: [...EXTENSIONS] }),
    }),
  ];
  return [...server("", undefined), ...server(ENVIRONMENT_PREFIX, EnvironmentParams)];
}

/**
 * What the infer route answers once its caller may infer: the body read (framing, compression,
 * bound), the request run, the answer encoded (a JSON object, or an HttpResponse with binary tensor
 * data or a compressed body). Also the data plane's fast path, which calls it without Fastify.
 */
export async function answerInfer(
  service: ServingService,
  target: { name: string; version: string | undefined; environment: string },
  headers: Record<string, string | string[] | undefined>,
  stream: Readable | undefined,
  maxRequestBytes: number,
): Promise<unknown> {
  const request = decodeInferRequest(await readInferBody(stream, headers, maxRequestBytes), headers);
  const result = await service.inferTensors(target.name, target.version, request, routeKey(headers), target.environment);
  return answer(encodeInferAnswer(result, request), headers["accept-encoding"]);
}

/**
 * An encoded answer as the route returns it: a JSON object as it is (the server writes it), binary
 * tensor data with its headers; either compressed when the client accepts it and it is worth it.
 */
async function answer(encoded: EncodedAnswer, acceptEncoding: string | string[] | undefined): Promise<unknown> {
  const encoding = acceptedEncoding(acceptEncoding);
  if (encoded.kind === "json" && encoding === undefined) return encoded.json;
  const body = encoded.kind === "json" ? Buffer.from(JSON.stringify(encoded.json)) : encoded.body;
  const headers: Record<string, string> =
    encoded.kind === "json" ? { "content-type": "application/json; charset=utf-8" } : { "content-type": "application/octet-stream", [INFERENCE_HEADER.toLowerCase()]: String(encoded.headerLength) };
  if (encoding === undefined || body.length < COMPRESS_FROM_BYTES) return new HttpResponse(200, headers, body);
  return new HttpResponse(200, { ...headers, "content-encoding": encoding, vary: "Accept-Encoding" }, await compress(body, encoding));
}

/**
 * Paved's serving API: the loaded versions, and the low-level load/unload primitive that the
 * deployment controller will drive (admin only until then). /metrics is mounted apart (metricsRoute):
 * by monitoring on paved up, which adds the platform's series, and by each data-plane process.
 */
export function servingRoutes(service: ServingPlane, options: ServingRouteOptions): RouteDefinition[] {
  return [
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

/** `/metrics`: the serving metrics of what serves (this process's, or every data-plane process's added up). */
export function metricsRoute(service: Pick<ServingPlane, "metricsText">): RouteDefinition {
  return route({
    method: "GET",
    url: "/metrics",
    summary: "Serving metrics in Prometheus text format, for every team's models (needs a token: scrape with a bearer token)",
    action: "serving:read",
    tags: TAGS,
    response: z.string(),
    handler: async () => new StreamResponse(Readable.from([await service.metricsText()]), "text/plain; version=0.0.4; charset=utf-8"),
  });
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
