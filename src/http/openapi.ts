import { z } from "zod";
import type { RouteDefinition } from "../core/index.ts";

function schemaOf(schema: z.ZodType | undefined): unknown {
  if (!schema) return undefined;
  try {
    return z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  } catch {
    return {};
  }
}

/** OpenAPI 3.1 for Paved's own API (`/api/v1`), from the same zod schemas that validate requests. */
export function buildOpenApi(routes: RouteDefinition[]): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    if (!r.url.startsWith("/api/v1")) continue;
    const path = r.url.replace(/:(\w+)/g, "{$1}");
    const parameters: unknown[] = [];
    for (const match of r.url.matchAll(/:(\w+)/g)) {
      parameters.push({ name: match[1], in: "path", required: true, schema: { type: "string" } });
    }
    const query = schemaOf(r.query) as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    for (const [name, schema] of Object.entries(query?.properties ?? {})) {
      parameters.push({ name, in: "query", required: query?.required?.includes(name) ?? false, schema });
    }
    const op: Record<string, unknown> = {
      summary: r.summary,
      tags: r.tags ?? [],
      // What the route does, as identity's policy names it (docs/security.md lists who may).
      "x-paved-action": r.action,
      parameters,
      responses: {
        "200": { description: "OK", ...(r.response ? { content: { "application/json": { schema: schemaOf(r.response) } } } : {}) },
        default: { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
      },
      ...(r.public ? { security: [] } : {}),
    };
    if (r.body) op.requestBody = { required: true, content: { "application/json": { schema: schemaOf(r.body) } } };
    if (r.rawBody) op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Paved API", version: "1" },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              properties: { code: { type: "string" }, message: { type: "string" }, details: { type: "object" } },
              required: ["code", "message"],
            },
          },
        },
      },
    },
    security: [{ bearer: [] }],
    paths,
  };
}
