// The data plane's inference hot path: an OIP infer request with a bearer token is answered
// straight from node:http, without Fastify's per-request objects, hooks and serialization (most of
// what a request cost beside the model's run, measured in docs/benchmarks.md#serving). It does
// what the infer route does, with the same functions: the token checked by identity's token
// service, the action and the endpoint's team by identity's policy, the body, run and answer by
// serving's answerInfer, errors in the OIP shape through http's one error map. Anything else (no
// token, a query string, a name the route would refuse) is left to Fastify's route.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../core/index.ts";
import { HttpResponse } from "../core/index.ts";
import { requestId, toErrorBody } from "../http/index.ts";
import { authorize, mayAttempt, type TokenService } from "../modules/identity/index.ts";
import { DEFAULT_ENVIRONMENT, answerInfer, isEnvironmentName, isModelName, type ServingService } from "../modules/serving/index.ts";

const INFER = /^(?:\/environments\/([^/?]+))?\/v2\/models\/([^/?]+)(?:\/versions\/([^/?]+))?\/infer$/;
const BEARER = /^Bearer\s+\S+$/i;

export function fastInfer(serving: ServingService, tokens: TokenService | undefined, maxRequestBytes: number, logger: Logger): (request: IncomingMessage, response: ServerResponse) => boolean {
  return (request, response) => {
    if (request.method !== "POST" || tokens === undefined) return false;
    const match = INFER.exec(request.url ?? "");
    const authorization = request.headers.authorization;
    if (!match || typeof authorization !== "string" || !BEARER.test(authorization)) return false;
    const [, environment = DEFAULT_ENVIRONMENT, name = "", version] = match;
    // A name the route's parameters refuse gets the route's answer (INVALID_INPUT, naming the rule).
    if (!isModelName(name) || (version !== undefined && !isModelName(version)) || !isEnvironmentName(environment)) return false;
    void answer(request, response, { name, version, environment }, authorization);
    return true;
  };

  async function answer(request: IncomingMessage, response: ServerResponse, target: { name: string; version: string | undefined; environment: string }, authorization: string): Promise<void> {
    const id = requestId(request);
    try {
      const principal = await tokens!.authenticate(authorization);
      if (!mayAttempt(principal, "serving:infer")) authorize(principal, "serving:infer");
      authorize(principal, "serving:infer", serving.endpointResource(target.name, target.environment));
      const result = await answerInfer(serving, target, request.headers, request, maxRequestBytes);
      if (result instanceof HttpResponse) {
        response.writeHead(result.status, { ...result.headers, "x-request-id": id });
        response.end(result.body as Buffer);
      } else {
        const text = JSON.stringify(result);
        response.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "x-request-id": id });
        response.end(text);
      }
    } catch (error) {
      const body = toErrorBody(error);
      if (body.status >= 500) logger.error({ err: error, url: request.url }, "request failed");
      if (response.headersSent) {
        response.destroy();
        return;
      }
      const text = JSON.stringify({ error: body.message });
      // A body left unread (refused before it was read) is not waited for: the connection closes after the answer.
      const close = !request.complete ? { connection: "close" } : {};
      response.writeHead(body.status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), "x-request-id": id, ...close });
      response.end(text);
    }
  }
}
