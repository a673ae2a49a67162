import type { Command } from "commander";
import { readFile, readdir } from "node:fs/promises";
import { notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";

// docs/ of this checkout: src/cli/commands/ → ../../../docs/
const DOCS = new URL("../../../docs/", import.meta.url);

export function registerDocs(program: Command, ctx: CliContext): void {
  program
    .command("docs")
    .argument("[topic]", "a page of the user documentation (omit to list them)")
    .description("Read Paved's user documentation in the terminal")
    .addHelpText("after", "\nExamples:\n  $ paved docs         # list topics\n  $ paved docs cli")
    .action(async (topic?: string) => {
      const topics = await listTopics();
      if (!topic) {
        ctx.out(topics.length ? `Topics (paved docs <topic>):\n${topics.map((t) => `  ${t}`).join("\n")}\n` : "no documentation in this installation\n");
        return;
      }
      const name = topic.replace(/\.md$/, "");
      if (!topics.includes(name)) {
        throw notFound(`no documentation topic '${topic}'; known topics: ${topics.join(", ") || "(none)"}`, { knownTopics: topics });
      }
      ctx.out(await readFile(new URL(`${name}.md`, DOCS), "utf8"));
    });
}

async function listTopics(): Promise<string[]> {
  try {
    const entries = await readdir(DOCS);
    return entries
      .filter((e) => e.endsWith(".md"))
      .map((e) => e.slice(0, -3))
      .sort();
  } catch {
    return [];
  }
}
