import type { Command } from "commander";
import { DocsLibrary } from "../../core/docs-library.ts";
import type { CliContext } from "../context.ts";

export function registerDocs(program: Command, ctx: CliContext): void {
  program
    .command("docs")
    .argument("[topic]", "a page of the user documentation (omit to list them)")
    .description("Read Paved's user documentation in the terminal (the same pages as the web UI's /docs)")
    .addHelpText("after", "\nExamples:\n  $ paved docs         # list topics\n  $ paved docs cli")
    .action(async (topic?: string) => {
      const docs = new DocsLibrary();
      if (!topic) {
        const topics = (await docs.topics()).map((t) => t.topic);
        ctx.out(topics.length ? `Topics (paved docs <topic>):\n${topics.map((t) => `  ${t}`).join("\n")}\n` : "no documentation in this installation\n");
        return;
      }
      ctx.out((await docs.read(topic)).markdown);
    });
}
