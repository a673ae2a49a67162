import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { renderTable } from "../render/table.ts";

/** `paved templates ls | show <name>`: the catalog's specs to scaffold from. */
export function registerTemplates(program: Command, ctx: CliContext): void {
  const templates = program
    .command("templates")
    .description("The catalog's templates: specs to scaffold from (the golden-path pipeline: train → register → evaluate → canary)")
    .addHelpText("after", "\nExamples:\n  $ paved templates ls\n  $ paved templates show golden-path > pipeline.yaml");

  templates
    .command("ls")
    .description("List the templates")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved templates ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listTemplates();
      if (opts.json) return ctx.json({ templates: list });
      ctx.out(
        renderTable(list, [
          { header: "NAME", value: (t) => t.name },
          { header: "KIND", value: (t) => t.kind },
          { header: "PARAMETERS", value: (t) => Object.keys(t.parameters).join(", ") },
          { header: "DESCRIPTION", value: (t) => t.description },
        ]),
      );
    });

  templates
    .command("show")
    .argument("<name>", "a template, e.g. golden-path")
    .description("Print a template's YAML (with its comments): redirect it to a file, set its parameters, and apply it")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved templates show golden-path > pipeline.yaml\n  $ paved pipelines apply -f pipeline.yaml")
    .action(async (name: string, opts: { json?: boolean }) => {
      const template = await (await ctx.client()).getTemplate(name);
      if (opts.json) return ctx.json(template);
      ctx.out(template.yaml.endsWith("\n") ? template.yaml : `${template.yaml}\n`);
    });
}
