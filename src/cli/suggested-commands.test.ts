// Every `paved …` command that a message, hint or help text in src/ suggests must be a command the
// real CLI accepts: a fix a message names is a fix the user can type.
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import type { Command } from "commander";
import { ProfileCatalog } from "../modules/catalog/index.ts";
import { checkCommandLine, checkSuggestedCommand, namesLeafCommand, pavedCommandsIn } from "./check-command-line.ts";
import { createContext } from "./context.ts";
import { buildProgram } from "./program.ts";

const SRC = new URL("..", import.meta.url).pathname;
/** Stands for a `${…}` in a template literal. */
const HOLE = "\u0000";

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

/** The text of every string and template literal in a file (comments are not literals). */
function literalsOf(path: string): string[] {
  const file = ts.createSourceFile(path, readFileSync(path, "utf8"), ts.ScriptTarget.Latest, true);
  const texts: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      texts.push(node.text);
    } else if (ts.isTemplateExpression(node)) {
      texts.push(node.head.text + node.templateSpans.map((span) => HOLE + span.literal.text).join(""));
      // Nested templates inside the holes are literals of their own.
      node.templateSpans.forEach((span) => visit(span.expression));
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return texts;
}

/** `paved …` in backticks, and after "e.g." (help examples are read from the built help, below). */
function suggestedCommands(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/`(paved(?:\s[^`]*)?)`/g)) found.add(m[1]!.trim());
  for (const m of text.matchAll(/e\.g\.,? (paved\s[^`;()"\n]+)/g)) found.add(m[1]!.trim());
  return [...found];
}

/** The `$ paved …` example lines of every command's help, as the built program prints them. */
function helpExamples(): { where: string; command: string }[] {
  const program = buildProgram(createContext({ env: {} }));
  const all = (command: Command): Command[] => [command, ...command.commands.flatMap(all)];
  return all(program).flatMap((command) => {
    let help = "";
    command.configureOutput({ writeOut: (s) => (help += s) });
    command.outputHelp();
    return [...help.matchAll(/^\s*\$ (.+)$/gm)].flatMap((m) => pavedCommandsIn(m[1]!).map((line) => ({ where: `help of '${command.name()}'`, command: line })));
  });
}

const PROFILES = new Set(ProfileCatalog.load().list().map((p) => p.name));

/** A `${…}` in a template literal stands for a word the user would type. */
const problemWith = (command: string) => checkSuggestedCommand(command.replaceAll(HOLE, "x"), PROFILES);

describe("commands suggested by messages and help texts", () => {
  const suggestions = sourceFiles(SRC).flatMap((path) =>
    literalsOf(path).flatMap((text) => suggestedCommands(text).map((command) => ({ where: relative(SRC, path), command }))),
  );

  it("finds the suggestions (the extraction works)", () => {
    const commands = suggestions.map((s) => s.command);
    expect(commands).toContain("paved profiles ls");
    expect(commands.some((c) => c.startsWith("paved models tag"))).toBe(true);
    expect(commands.length).toBeGreaterThan(40);
  });

  it("each parses against the real program, or names a command that runs", async () => {
    const failures: string[] = [];
    for (const { where, command } of suggestions) {
      const problem = await problemWith(command);
      if (problem) failures.push(`${where}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });

  it("every help example parses, with profiles that exist", async () => {
    const examples = helpExamples();
    expect(examples.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const { where, command } of examples) {
      const problem = await problemWith(command);
      if (problem) failures.push(`${where}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });

  it("a group is not a command: `paved runs` suggested as a fix is caught", async () => {
    expect((await checkCommandLine("paved runs")).ok).toBe(false);
    expect(namesLeafCommand("paved runs")).toBe(false);
    expect(namesLeafCommand("paved evaluate")).toBe(true);
  });

  it("a suggestion to use another client is a paved command too (no mlflow client calls in hints)", () => {
    const foreign = sourceFiles(SRC).flatMap((path) =>
      literalsOf(path)
        .filter((text) => /set_registered_model_tag|MlflowClient\(|set_model_version_tag/.test(text))
        .map((text) => `${relative(SRC, path)}: ${text.slice(0, 120)}`),
    );
    expect(foreign).toEqual([]);
  });
});
