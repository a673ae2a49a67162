import type { Command } from "commander";
import { PavedClient, type Whoami } from "../../client/index.ts";
import { normaliseUrl, resolveCredentials, saveCredentials } from "../../client/credentials.ts";
import { hostname } from "node:os";
import { PlatformError, invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { readHidden } from "../hidden-input.ts";

export function registerLogin(program: Command, ctx: CliContext): void {
  program
    .command("login")
    .description("Check a token against a Paved server and store it for later commands, or sign in with single sign-on (--sso)")
    .option("--url <url>", "server URL (default: PAVED_URL, the stored one, or http://127.0.0.1:8080)")
    .option("--token <token>", "API token (default: read from stdin, or prompted for on a terminal)")
    .option("--sso", "sign in with the server's single sign-on: open the URL shown in a browser, check the code, sign in; stores a token named sso-<this host>")
    .addHelpText(
      "after",
      `
Examples:
  $ paved login --url http://paved.internal:8080          # prompts for the token
  $ echo "$TOKEN" | paved login --url http://127.0.0.1:8080
  $ paved login --sso --url https://paved.example.com       # single sign-on (device login)
Credentials go to $XDG_CONFIG_HOME/paved/credentials.json (default ~/.config/paved), mode 0600.`,
    )
    .action(async (opts: { url?: string; token?: string; sso?: boolean }) => {
      const { url } = await resolveCredentials({ env: ctx.env, url: opts.url ? normaliseUrl(opts.url) : undefined });
      if (opts.sso) {
        if (opts.token) throw invalidInput("--sso and --token exclude each other; sign in with one of them");
        return loginWithSso(ctx, url);
      }
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

/**
 * Single sign-on for the CLI: the server runs the provider's device login on its behalf (the CLI
 * cannot hold the client secret); the user opens the URL, checks the code and signs in, while the
 * CLI polls until the server hands over a personal token.
 */
async function loginWithSso(ctx: CliContext, url: string): Promise<void> {
  const client = new PavedClient({ url, ...(ctx.fetch ? { fetch: ctx.fetch } : {}) });
  const start = await client.startSsoDeviceLogin(hostname());
  ctx.note(
    `To sign in, open ${start.verificationUriComplete ?? start.verificationUri} in a browser and check that it shows the code ${start.userCode}` +
      `${start.verificationUriComplete ? "" : " (enter it there)"}. Waiting for you to finish (${Math.round(start.expiresIn / 60)} minutes at most)…`,
  );
  const deadline = ctx.now() + start.expiresIn * 1000;
  let interval = start.interval;
  for (;;) {
    await ctx.sleep(interval * 1000);
    const answer = await client.pollSsoDeviceLogin(start.handle);
    if (answer.status === "complete") {
      const path = await saveCredentials(ctx.env, { url, token: answer.token });
      const me = describe({ name: answer.name, kind: "user", platformAdmin: answer.platformAdmin, teams: answer.teams });
      ctx.out(`logged in to ${url} as ${me} until ${new Date(answer.expiresAt).toISOString()}; credentials stored in ${path}\n`);
      return;
    }
    interval = answer.interval;
    if (ctx.now() > deadline) throw new PlatformError("UNAUTHENTICATED", "the sign-in was not finished in time; run `paved login --sso` again", { reason: "sso_expired" });
  }
}

/** Reads the token: all of stdin when piped, a hidden prompt on a terminal. */
async function readToken(ctx: CliContext): Promise<string> {
  const stdin = ctx.io.stdin;
  if (!stdin.isTTY) {
    let text = "";
    for await (const chunk of stdin) text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
    return text;
  }
  return readHidden(ctx, "Token: ", "login cancelled");
}
