import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { formatAgo } from "../render/format.ts";
import { renderTable } from "../render/table.ts";

export function registerExperiments(program: Command, ctx: CliContext): void {
  const experiments = program
    .command("experiments")
    .description("Experiments group the runs of one piece of work")
    .addHelpText("after", "\nExample:\n  $ paved experiments ls");

  experiments
    .command("ls")
    .description("List experiments")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved experiments ls\n  $ paved experiments ls --json | jq -r '.experiments[].name'")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listExperiments();
      if (opts.json) return ctx.json({ experiments: list });
      const now = ctx.now();
      ctx.out(
        renderTable(list, [
          { header: "ID", value: (e) => e.id },
          { header: "NAME", value: (e) => e.name },
          { header: "TEAM", value: (e) => e.team },
          { header: "STAGE", value: (e) => e.lifecycleStage },
          { header: "CREATED", value: (e) => formatAgo(e.createdAt, now) },
          { header: "UPDATED", value: (e) => formatAgo(e.updatedAt, now) },
          { header: "ARTIFACTS", value: (e) => e.artifactLocation },
        ]),
      );
    });
}
