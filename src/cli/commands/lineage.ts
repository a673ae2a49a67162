import type { Command } from "commander";
import type { LineageGraph } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";

interface LineageOptions {
  up?: boolean;
  down?: boolean;
  depth?: number;
  json?: boolean;
}

/** `paved lineage <ref>`: where something came from and what was made from it. */
export function registerLineage(program: Command, ctx: CliContext): void {
  program
    .command("lineage")
    .argument("<ref>", "a deployment id (deploy-…), models:/<name>/<version|alias>, runs:/<run_id> or datasets:/<name>@<version|alias>")
    .description("Where a deployment, model version, run or dataset version came from (model version, run, commit, dataset versions, connector source) and what was made from it (runs, model versions, deployments, batch predictions)")
    .option("--up", "only where it came from")
    .option("--down", "only what was made from it")
    .option("--depth <n>", "steps to walk each way (default 10, at most 20)", parseInteger("--depth", 1))
    .option("--json", "print the graph (nodes and edges) as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved lineage deploy-3f2a9c41d0          # production back to the commit and the data
  $ paved lineage models:/churn/3 --up
  $ paved lineage datasets:/churn@2 --down   # every run, model and deployment made from it
  $ paved lineage runs:/3f2a9c41 --json

Nodes of teams you are not in are left out. docs/lineage.md says what each link means.`,
    )
    .action(async (ref: string, opts: LineageOptions) => {
      if (opts.up && opts.down) throw invalidInput("--up and --down together are the default (both); give one of them, or neither");
      const direction = opts.up ? "upstream" : opts.down ? "downstream" : "both";
      const graph = await (await ctx.client()).lineage(ref, { direction, ...(opts.depth !== undefined ? { depth: opts.depth } : {}) });
      if (opts.json) return ctx.json(graph);
      ctx.out(renderLineage(graph, direction));
    });
}

/** The graph as two trees from the root: upstream (←) and downstream (→), each node once (a repeat says "(above)"). */
export function renderLineage(graph: LineageGraph, direction: "upstream" | "downstream" | "both"): string {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const line = (id: string) => {
    const node = byId.get(id)!;
    return node.ref && !node.label.includes(node.ref) ? `${node.label}   ${node.ref}` : node.label;
  };
  const out = [line(graph.root)];
  const tree = (title: string, arrow: string, next: (id: string) => { id: string; relation: string }[]) => {
    const seen = new Set([graph.root]);
    const lines: string[] = [];
    const visit = (id: string, indent: string) => {
      for (const { id: other, relation } of next(id)) {
        const repeat = seen.has(other);
        lines.push(`${indent}${arrow} ${relation}: ${line(other)}${repeat ? " (above)" : ""}`);
        if (repeat) continue;
        seen.add(other);
        visit(other, `${indent}  `);
      }
    };
    visit(graph.root, "  ");
    out.push("", title, ...(lines.length ? lines : ["  (nothing)"]));
  };
  if (direction !== "downstream") tree("Upstream (where it came from):", "←", (id) => graph.edges.filter((e) => e.to === id).map((e) => ({ id: e.from, relation: e.relation })));
  if (direction !== "upstream") tree("Downstream (made from it):", "→", (id) => graph.edges.filter((e) => e.from === id).map((e) => ({ id: e.to, relation: e.relation })));
  if (graph.truncated) out.push("", "(cut short by --depth or the 500-node bound: run it again from a node at the edge)");
  return `${out.join("\n")}\n`;
}
