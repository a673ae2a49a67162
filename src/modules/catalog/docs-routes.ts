import { z } from "zod";
import { route, type RouteDefinition } from "../../core/index.ts";
import { MAX_DOCS_QUERY, type DocsLibrary } from "../../core/docs-library.ts";

const topicSchema = z.object({ topic: z.string(), title: z.string() });
const docsQuerySchema = z.object({ q: z.string().max(MAX_DOCS_QUERY, `a search is at most ${MAX_DOCS_QUERY} characters`).optional().describe("words every returned topic holds (case-insensitive); omit to list every topic") });
const docsListSchema = z.object({
  topics: z.array(
    topicSchema.extend({
      score: z.number().optional().describe("with q: how often the words occur in the topic"),
      matches: z.array(z.object({ heading: z.string().nullable(), snippet: z.string() })).optional().describe("with q: the lines that match, under the heading of their section"),
    }),
  ),
});
const docPageSchema = topicSchema.extend({ markdown: z.string() });

/** The user documentation (docs/*.md, what `paved docs` prints) for the web UI: its topics, a search over them, and each page's markdown. */
export function docsRoutes(docs: DocsLibrary): RouteDefinition[] {
  const tags = ["catalog"];
  return [
    route({
      method: "GET",
      url: "/api/v1/docs",
      summary: "The documentation's topics with their titles; with ?q=, the topics holding every word, most matches first, with the matching lines",
      tags,
      action: "catalog:read",
      query: docsQuerySchema,
      response: docsListSchema,
      handler: async ({ query }) => ({ topics: query.q?.trim() ? await docs.search(query.q) : await docs.topics() }),
    }),
    route({
      method: "GET",
      url: "/api/v1/docs/:topic",
      summary: "One documentation topic's markdown (a topic from GET /api/v1/docs; anything else is NOT_FOUND)",
      tags,
      action: "catalog:read",
      params: z.object({ topic: z.string().min(1).max(100) }),
      response: docPageSchema,
      handler: async ({ params }) => docs.read(params.topic),
    }),
  ];
}
