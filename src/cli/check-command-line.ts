import { CommanderError, type Command } from "commander";
import { PassThrough } from "node:stream";
import { isPlatformError } from "../core/index.ts";
import { createContext } from "./context.ts";
import { buildProgram } from "./program.ts";

/** What `paved …` resolved to when parsed: the command path, its arguments and options. */
export interface ParsedCommandLine {
  /** e.g. "runs artifacts get"; "" for `paved --help`. */
  command: string;
  args: unknown[];
  options: Record<string, unknown>;
}

export type CheckResult = { ok: true; parsed: ParsedCommandLine } | { ok: false; error: string };

/**
 * Parses a `paved …` command line against the real commander program without running it: every
 * command's action is replaced by a recorder, so a line is accepted only when it reaches a command
 * that would run, with arguments and options its parsers accept. For tests of the commands that
 * docs, help texts and error messages suggest.
 */
export async function checkCommandLine(line: string): Promise<CheckResult> {
  const words = shellWords(line);
  if (words[0] !== "paved") return { ok: false, error: `'${line}' does not start with paved` };
  let output = "";
  const stdin = new PassThrough();
  stdin.end();
  const ctx = createContext({
    env: {},
    io: { stdout: { write: (s) => (output += String(s)) }, stderr: { write: (s) => (output += String(s)) }, stdin },
  });
  const program = buildProgram(ctx);
  let parsed: ParsedCommandLine | undefined;
  for (const command of leafCommands(program)) {
    command.action((...received: unknown[]) => {
      // commander passes the arguments, then the options, then the command itself.
      const self = received.at(-1) as Command;
      parsed = { command: commandPath(self), args: received.slice(0, -2), options: self.opts() };
    });
  }
  try {
    await program.parseAsync(["node", ...words]);
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return { ok: true, parsed: { command: "", args: [], options: {} } };
    if (error instanceof CommanderError) return { ok: false, error: `'${line}': ${output.trim().split("\n")[0] || error.message}` };
    if (isPlatformError(error)) return { ok: false, error: `'${line}': ${error.message}` };
    throw error;
  }
  if (!parsed) return { ok: false, error: `'${line}' names no command that runs (a command group needs a subcommand)` };
  return { ok: true, parsed };
}

/**
 * True when the line only names a command that runs, without its arguments (`paved evaluate`,
 * `paved runs artifacts ls`): a reference to a command in prose. A command group (`paved runs`)
 * is not one: it runs nothing.
 */
export function namesLeafCommand(line: string): boolean {
  const words = shellWords(line);
  if (words[0] !== "paved" || words.length < 2) return false;
  const stdin = new PassThrough();
  stdin.end();
  let command: Command = buildProgram(createContext({ env: {}, io: { stdout: { write: () => true }, stderr: { write: () => true }, stdin } }));
  for (const word of words.slice(1)) {
    const next = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) return false;
    command = next;
  }
  return command.commands.length === 0;
}

/**
 * Checks a command a doc, help text or message suggests: placeholders (`<run-id>`, `<n>`) are
 * filled with values a user would type, then the line must parse (or, in prose, name a command
 * that runs), and a `--profile` must be one of `knownProfiles`. Returns the problem, if any.
 */
export async function checkSuggestedCommand(command: string, knownProfiles?: ReadonlySet<string>): Promise<string | undefined> {
  const line = fillPlaceholders(command);
  const result = await checkCommandLine(line);
  if (!result.ok) return namesLeafCommand(line) ? undefined : result.error;
  const profile = result.parsed.options.profile;
  if (knownProfiles && typeof profile === "string" && !knownProfiles.has(profile)) {
    return `'${command}': profile '${profile}' does not exist; known profiles: ${[...knownProfiles].join(", ")}`;
  }
  return undefined;
}

/** `<n>`-like placeholders become a number, other `<…>` a word. */
export function fillPlaceholders(line: string): string {
  return line.replace(/<(n|N|count|number|steps?|version)>/g, "1").replace(/<[^<>\s][^<>]*>/g, "x");
}

/** `paved deployments pause|resume deploy-1` (alternatives, no spaces around `|`) → one line per alternative. */
export function expandAlternatives(line: string): string[] {
  const m = /(^|\s)([\w.-]+(?:\|[\w.-]+)+)(?=\s|$)/.exec(line);
  if (!m) return [line];
  const start = m.index + m[1]!.length;
  return m[2]!.split("|").flatMap((alternative) => expandAlternatives(line.slice(0, start) + alternative + line.slice(start + m[2]!.length)));
}

function leafCommands(command: Command): Command[] {
  return command.commands.length === 0 ? [command] : command.commands.flatMap(leafCommands);
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Splits a shell line into words the way a POSIX shell would for a simple command: quotes,
 * backslash escapes; stops at an unquoted `|`, `;`, `&`, `>`, `<` or ` #`. `$VAR` stays literal.
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let i = 0;
  const push = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  while (i < line.length) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? "") + line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end + 1;
    } else if (c === '"') {
      let text = "";
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) i++;
        text += line[i];
        i++;
      }
      word = (word ?? "") + text;
      i++;
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[i + 1];
      i += 2;
    } else if (/\s/.test(c)) {
      push();
      i++;
    } else if ("|;&<>".includes(c) || (c === "#" && word === undefined)) {
      break;
    } else {
      word = (word ?? "") + c;
      i++;
    }
  }
  push();
  return words;
}

/**
 * The `paved …` commands in a shell line: each segment of a pipeline or list (`|`, `;`, `&&`,
 * `||`) that runs paved, after `VAR=value` prefixes; `npx paved` and `node bin/paved.js` count.
 */
export function pavedCommandsIn(line: string): string[] {
  const found: string[] = [];
  for (const segment of splitSegments(line)) {
    const text = segment
      .trim()
      .replace(/^(?:[A-Za-z_][A-Za-z0-9_]*=(?:"[^"]*"|'[^']*'|\S*)\s+)+/, "")
      .replace(/^(?:npx|node\s+(?:\S*\/)?bin\/paved\.js)(?=\s|$)/, (m) => (m.startsWith("npx") ? "" : "paved"))
      .trim();
    if (/^paved(\s|$)/.test(text)) found.push(text);
  }
  return found;
}

function splitSegments(line: string): string[] {
  const segments: string[] = [];
  let current = "";
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === "\\" && quote === '"' && i + 1 < line.length) {
        current += c + line[i + 1];
        i++;
        continue;
      }
      if (c === quote) quote = undefined;
      current += c;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break;
    if (c === "|" || c === ";" || c === "&") {
      segments.push(current);
      current = "";
      while (line[i + 1] === c) i++;
      continue;
    }
    current += c;
  }
  segments.push(current);
  return segments;
}
