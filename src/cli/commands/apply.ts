import type { Command } from "commander";
import { PlatformError, invalidInput, isPlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { loadSpecDocuments } from "../spec-file.ts";
import { defaultTeam } from "./train.ts";

export function registerApply(program: Command, ctx: CliContext): void {
  program
    .command("apply")
    .description("Submit the resources declared in a YAML spec file (kind: Job, Sweep or Pipeline)")
    .requiredOption("-f, --file <file>", "YAML spec file; relative paths in it are resolved against its folder")
    .option("--team <team>", "team of the documents that name none (one that names another is refused); default: $PAVED_TEAM, else your token's team")
    .option("--json", "print the created resources as JSON")
    .addHelpText(
      "after",
      `
Example:
  $ cat job.yaml
  kind: Job
  name: mnist
  experiment: mnist
  command: [python3, train.py, --epochs, "5"]
  compute: { profile: gpu-1 }
  team: vision            # optional: the team the job belongs to
  $ paved apply -f job.yaml
  $ paved apply -f job.yaml --team vision`,
    )
    .action(async (opts: { file: string; team?: string; json?: boolean }) => {
      const documents = await loadSpecDocuments(opts.file, ctx.cwd);
      for (const document of documents) {
        if (document.kind === "Pipeline") {
          const named = document.spec.metadata.team;
          if (opts.team && named && named !== opts.team) throw invalidInput(`${document.where}: names team '${named}' but --team is '${opts.team}'; drop one of them`);
          const team = named ?? opts.team ?? defaultTeam(ctx);
          if (team) document.spec = { ...document.spec, metadata: { ...document.spec.metadata, team } };
          continue;
        }
        if (opts.team && document.spec.team && document.spec.team !== opts.team) {
          throw invalidInput(`${document.where}: names team '${document.spec.team}' but --team is '${opts.team}'; drop one of them`);
        }
        const team = document.spec.team ?? opts.team ?? defaultTeam(ctx);
        if (team) document.spec = { ...document.spec, team };
      }
      const client = await ctx.client();
      const created: unknown[] = [];
      // The server names the fields; say which file (and document) they are in.
      const located = (where: string) => (error: unknown) => {
        if (isPlatformError(error) && error.code === "INVALID_INPUT") throw new PlatformError(error.code, `${where}: ${error.message}`, error.details);
        throw error;
      };
      for (const document of documents) {
        if (document.kind === "Pipeline") {
          const pipeline = await client.applyPipeline(document.spec).catch(located(document.where));
          created.push(pipeline);
          if (!opts.json) ctx.out(`pipeline ${pipeline.name} applied (version ${pipeline.version}, ${pipeline.steps.length} steps); run it with \`paved pipelines run ${pipeline.name}\`\n`);
          continue;
        }
        if (document.kind === "Sweep") {
          const sweep = await client.createSweep(document.spec).catch(located(document.where));
          created.push(sweep);
          if (!opts.json) ctx.out(`sweep ${sweep.id} created (${sweep.trialsTarget} trials, seed ${sweep.seed}); watch it with \`paved sweeps show ${sweep.id}\`\n`);
          continue;
        }
        const job = await client.submitJob(document.spec).catch(located(document.where));
        created.push(job);
        if (!opts.json) ctx.out(`job ${job.id} queued; follow with \`paved logs -f ${job.id}\`\n`);
      }
      if (opts.json) ctx.json(created.length === 1 ? created[0] : documents.every((d) => d.kind === "Job") ? { jobs: created } : { resources: created });
    });
}
