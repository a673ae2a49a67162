import { z } from "zod";

/** What a node of the lineage graph is. */
export const NODE_KINDS = ["deployment", "model", "run", "commit", "dataset", "source", "input", "prediction", "pipeline-run"] as const;
export type NodeKind = (typeof NODE_KINDS)[number];

export const LineageNode = z.object({
  id: z.string().describe("kind:key, e.g. model:churn@3, dataset:churn@2, run:3f2a9c41"),
  kind: z.enum(NODE_KINDS),
  label: z.string().describe("one line for people, e.g. \"dataset churn@2 (10,000 rows)\""),
  team: z.string().nullable().describe("the team that owns it (null for a commit, an external input or a connector source)"),
  ref: z.string().nullable().describe("what to pass to the API or CLI to see it, e.g. datasets:/churn@2, models:/churn/3, runs:/<id>, deploy-…"),
  attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).describe("what else is known (digest, rows, environment, phase, …)"),
});
export type LineageNode = z.output<typeof LineageNode>;

export const LineageEdge = z.object({
  from: z.string().describe("the upstream node (what the other came from)"),
  to: z.string().describe("the downstream node"),
  relation: z.string().describe("how: read by, code of, registered from, deployed as, snapshot of, predicted by, produced"),
});
export type LineageEdge = z.output<typeof LineageEdge>;

export const LineageGraph = z.object({
  root: z.string().describe("the node asked about"),
  nodes: z.array(LineageNode),
  edges: z.array(LineageEdge),
  truncated: z.boolean().describe("true when the depth or node bound stopped the walk: ask again from a node at the edge"),
});
export type LineageGraph = z.output<typeof LineageGraph>;

export const MAX_LINEAGE_DEPTH = 20;
export const MAX_LINEAGE_NODES = 500;

export const LineageQuery = z.object({
  ref: z
    .string()
    .min(1)
    .max(2048)
    .describe("a deployment id (deploy-…), models:/<name>/<version|alias>, runs:/<run_id>, or datasets:/<name>@<version|alias>"),
  direction: z.enum(["upstream", "downstream", "both"]).default("both").describe("upstream: where it came from; downstream: what was made from it"),
  depth: z.coerce.number().int().min(1).max(MAX_LINEAGE_DEPTH).default(10).describe(`how many steps to walk each way (at most ${MAX_LINEAGE_DEPTH})`),
});
export type LineageQuery = z.output<typeof LineageQuery>;
