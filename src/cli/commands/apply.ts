import type { Command } from "commander";
import { PlatformError, isPlatformError } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { loadSpecFile } from "../spec-file.ts";

export function registerApply(program: Command, ctx: CliContext): void {
  program
    .command("apply")
    .description("Submit the resources declared in a YAML spec file (kind: Job)")
    .requiredOption("-f, --file <file>", "YAML spec file; relative paths in it are resolved against its folder")
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
  $ paved apply -f job.yaml`,
    )
    .action(async (opts: { file: string; json?: boolean }) => {
      const documents = await loadSpecFile(opts.file, ctx.cwd);
      const client = await ctx.client();
      const created = [];
      for (const document of documents) {
        const job = await client.submitJob(document.spec).catch((error: unknown) => {
          // The server names the fields; say which file (and document) they are in.
          if (isPlatformError(error) && error.code === "INVALID_INPUT") throw new PlatformError(error.code, `${document.where}: ${error.message}`, error.details);
          throw error;
        });
        created.push(job);
        if (!opts.json) ctx.out(`job ${job.id} queued; follow with \`paved logs -f ${job.id}\`\n`);
      }
      if (opts.json) ctx.json(created.length === 1 ? created[0] : { jobs: created });
    });
}
