import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import type { TeamSecret } from "../../client/index.ts";
import { invalidInput, notFound } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { readHidden } from "../hidden-input.ts";
import { formatAgo } from "../render/format.ts";
import { renderTable } from "../render/table.ts";

/** The server refuses larger values too (modules/secrets); checked here before anything is sent. */
const MAX_SECRET_BYTES = 64 * 1024;

/** `paved secrets set|ls|rm`: a team's named secrets, which connectors read on the server. */
export function registerSecrets(program: Command, ctx: CliContext): void {
  const secrets = program
    .command("secrets")
    .alias("secret")
    .description("Team secrets: passwords and keys that dataset connectors use on the server; specs name them, values never come back")
    .addHelpText("after", "\nSee docs/secrets.md.\n\nExample:\n  $ paved secrets set warehouse-password --team risk --from-file ./pw.txt\n  $ paved secrets ls\n  $ paved secrets rm warehouse-password --team risk");

  secrets
    .command("set")
    .argument("<name>", "the secret's name, e.g. warehouse-password")
    .description("Set a secret (create it or replace its value): from a file, or from stdin (piped, or typed at a hidden prompt). Needs the maintainer role")
    .option("--team <team>", "the team it belongs to (default: your only team)")
    .option("--from-file <file>", "read the value from this file, byte for byte")
    .option("--json", "print JSON")
    .addHelpText("after", "\nA value read from stdin loses one trailing newline; one read from a file is kept exactly.\n\nExample:\n  $ paved secrets set warehouse-password --team risk --from-file ./pw.txt\n  $ printf '%s' \"$AWS_SECRET_ACCESS_KEY\" | paved secrets set s3-secret-key --team risk")
    .action(async (name: string, opts: { team?: string; fromFile?: string; json?: boolean }) => {
      const value = opts.fromFile !== undefined ? await readValueFile(opts.fromFile, ctx.cwd) : await readValueStdin(ctx);
      if (value.length === 0) throw invalidInput("the secret's value is empty; give it with --from-file <file> or on stdin");
      const set = await (await ctx.client()).putSecret(name, { value, ...(opts.team ? { team: opts.team } : {}) });
      if (opts.json) return ctx.json(set);
      ctx.out(`secret ${set.name} of team ${set.team} set; name it in connector specs (e.g. passwordSecret: ${set.name})\n`);
    });

  secrets
    .command("ls")
    .description("List the secrets of your teams: names, who set each and when (never values)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved secrets ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listSecrets();
      if (opts.json) return ctx.json({ secrets: list });
      if (list.length === 0) return ctx.out("no secrets; set one with `paved secrets set <name> --team <team>`\n");
      ctx.out(
        renderTable<TeamSecret>(list, [
          { header: "TEAM", value: (s) => s.team },
          { header: "NAME", value: (s) => s.name },
          { header: "UPDATED", value: (s) => formatAgo(s.updatedAt, ctx.now()) },
          { header: "BY", value: (s) => s.updatedBy },
        ]),
      );
    });

  secrets
    .command("rm")
    .argument("<name>", "the secret's name")
    .option("--team <team>", "the secret's team (default: your only team)")
    .description("Delete a secret; connectors that name it fail until it is set again. Needs the maintainer role")
    .addHelpText("after", "\nExample:\n  $ paved secrets rm warehouse-password --team risk")
    .action(async (name: string, opts: { team?: string }) => {
      await (await ctx.client()).deleteSecret(name, opts.team);
      ctx.out(`secret ${name} deleted\n`);
    });
}

async function readValueFile(file: string, cwd: string): Promise<string> {
  const path = resolve(cwd, file);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw notFound(`file '${file}' does not exist; check the path given to --from-file`);
    throw invalidInput(`cannot read '${file}' (${error.code ?? "error"}); check the path given to --from-file`);
  });
  if (!info.isFile()) throw invalidInput(`'${file}' is not a file; give --from-file a file holding the value`);
  if (info.size > MAX_SECRET_BYTES) throw invalidInput(`'${file}' holds ${info.size} bytes; a secret is at most ${MAX_SECRET_BYTES} bytes`);
  return readFile(path, "utf8");
}

/** All of stdin when piped (one trailing newline dropped), or a line typed at a hidden prompt. */
async function readValueStdin(ctx: CliContext): Promise<string> {
  const stdin = ctx.io.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) {
      text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      if (Buffer.byteLength(text) > MAX_SECRET_BYTES + 2) throw invalidInput(`stdin holds more than ${MAX_SECRET_BYTES} bytes, the most a secret may hold`);
    }
    return text.replace(/\r?\n$/, "");
  }
  return readHidden(ctx, "Value (not shown): ", "cancelled; nothing was set");
}
