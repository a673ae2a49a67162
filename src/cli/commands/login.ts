import type { Command } from "commander";
import { PavedClient, type Whoami } from "../../client/index.ts";
import { normaliseUrl, resolveCredentials, saveCredentials } from "../../client/credentials.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";

export function registerLogin(program: Command, ctx: CliContext): void {
  program
    .command("login")
    .description("Check a token against a Paved server and store it for later commands")
    .option("--url <url>", "server URL (default: PAVED_URL, the stored one, or http://127.0.0.1:8080)")
    .option("--token <token>", "API token (default: read from stdin, or prompted for on a terminal)")
    .addHelpText(
      "after",
      `
Examples:
  $ paved login --url http://paved.internal:8080          # prompts for the token
  $ echo "$TOKEN" | paved login --url http://127.0.0.1:8080
Credentials go to $XDG_CONFIG_HOME/paved/credentials.json (default ~/.config/paved), mode 0600.`,
    )
    .action(async (opts: { url?: string; token?: string }) => {
      const { url } = await resolveCredentials({ env: ctx.env, url: opts.url ? normaliseUrl(opts.url) : undefined });
      const token = (opts.token ?? (await readToken(ctx))).trim();
      if (!token) throw invalidInput("no token given; pass --token, pipe it on stdin, or type it at the prompt (`paved up` prints the admin token)");
      const client = new PavedClient({ url, token, ...(ctx.fetch ? { fetch: ctx.fetch } : {}) });
      const me = await client.whoami();
      const path = await saveCredentials(ctx.env, { url, token });
      ctx.out(`logged in to ${url} as ${describe(me)}; credentials stored in ${path}\n`);
    });

  program
    .command("whoami")
    .description("Show the server and the identity your token resolves to")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved whoami")
    .action(async (opts: { json?: boolean }) => {
      const client = await ctx.client();
      const me = await client.whoami();
      if (opts.json) return ctx.json({ url: client.url, ...me });
      ctx.out(`${describe(me)} at ${client.url}\n`);
    });
}

/** "ada (developer in risk, viewer in fraud; platform admin)", "job:job_1 (job job_1 in risk)". */
function describe(me: Whoami): string {
  if (me.jobId) return `${me.name} (job ${me.jobId}${me.team ? ` in ${me.team}` : ""})`;
  const roles = me.teams.map((t) => `${t.role} in ${t.team}`);
  if (me.platformAdmin) roles.push("platform admin");
  return `${me.name} (${roles.join(", ") || "in no team"})`;
}

/** Reads the token: all of stdin when piped, a hidden prompt on a terminal. */
async function readToken(ctx: CliContext): Promise<string> {
  const stdin = ctx.io.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return text;
  }
  ctx.io.stderr.write("Token: ");
  return new Promise((resolve, reject) => {
    let token = "";
    stdin.setRawMode?.(true);
    stdin.setEncoding("utf8");
    const done = (result: string | Error) => {
      stdin.setRawMode?.(false);
      stdin.removeListener("data", onData);
      stdin.pause();
      ctx.io.stderr.write("\n");
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done(token);
        if (ch === "\u0003") return done(invalidInput("login cancelled"));
        if (ch === "\u007f" || ch === "\b") token = token.slice(0, -1);
        else token += ch;
      }
    };
    stdin.on("data", onData);
    stdin.resume();
  });
}
