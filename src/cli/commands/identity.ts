import type { Command } from "commander";
import type { Team, TeamRole, TokenInfo, User } from "../../client/index.ts";
import { TEAM_ROLES, invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { parseInteger } from "../options.ts";
import { formatAgo, formatTime } from "../render/format.ts";
import { renderFields, renderTable } from "../render/table.ts";

function parseRole(value: string): TeamRole {
  if (!(TEAM_ROLES as readonly string[]).includes(value)) throw invalidInput(`--role '${value}' is not a role; choose one of ${TEAM_ROLES.join(", ")}`);
  return value as TeamRole;
}

/** `paved tokens create|ls|revoke`: personal API tokens. */
export function registerTokens(program: Command, ctx: CliContext): void {
  const tokens = program
    .command("tokens")
    .description("Personal API tokens: they act as you, with your team roles (shown once, stored hashed)")
    .addHelpText("after", "\nExamples:\n  $ paved tokens create --name laptop --expires-in 30\n  $ paved tokens ls\n  $ paved tokens revoke tok_01hx...");

  tokens
    .command("create")
    .description("Create a token and print it once")
    .requiredOption("--name <name>", "what it is for, e.g. laptop or ci")
    .option("--expires-in <days>", "days until it stops working (1 to 366)", parseInteger("--expires-in", 1), 90)
    .option("--team <team>", "the team new resources go to when a request names none (default: PAVED_TEAM, or your only team)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved tokens create --name ci --expires-in 30 --team risk\n  $ export PAVED_TOKEN=$(paved tokens create --name notebook --json | jq -r .token)")
    .action(async (opts: { name: string; expiresIn: number; team?: string; json?: boolean }) => {
      const team = opts.team ?? ctx.env.PAVED_TEAM;
      const created = await (await ctx.client()).createToken({ name: opts.name, expiresInDays: opts.expiresIn, ...(team ? { team } : {}) });
      if (opts.json) return ctx.json(created);
      ctx.note(`token ${created.id} (${created.name}) for ${created.user}, expires ${formatTime(created.expiresAt, ctx.now())}; it is shown once:`);
      ctx.out(`${created.token}\n`);
    });

  tokens
    .command("ls")
    .description("List your tokens (never their values)")
    .option("--all", "everyone's tokens (platform admins)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExamples:\n  $ paved tokens ls\n  $ paved tokens ls --all --json")
    .action(async (opts: { all?: boolean; json?: boolean }) => {
      const list = await (await ctx.client()).listTokens(opts.all === true);
      if (opts.json) return ctx.json({ tokens: list });
      ctx.out(renderTokens(list, ctx.now()));
    });

  tokens
    .command("revoke")
    .argument("<id>", "token id (from `paved tokens ls`)")
    .description("Revoke a token: it stops working at once")
    .addHelpText("after", "\nExample:\n  $ paved tokens revoke tok_01hx...")
    .action(async (id: string) => {
      await (await ctx.client()).revokeToken(id);
      ctx.out(`token ${id} revoked\n`);
    });
}

function renderTokens(list: TokenInfo[], now: number): string {
  return renderTable(list, [
    { header: "ID", value: (t) => t.id },
    { header: "NAME", value: (t) => t.name },
    { header: "USER", value: (t) => t.user },
    { header: "TEAM", value: (t) => t.team },
    { header: "CREATED", value: (t) => formatAgo(t.createdAt, now) },
    { header: "EXPIRES", value: (t) => (t.expiresAt === null ? "never" : t.expiresAt < now ? "expired" : formatTime(t.expiresAt, now)) },
  ]);
}

/** `paved teams …`: teams, members and their roles, service accounts. */
export function registerTeams(program: Command, ctx: CliContext): void {
  const teams = program
    .command("teams")
    .description("Teams own experiments, jobs, models and deployments; members hold a role: viewer, developer, maintainer, admin")
    .addHelpText("after", "\nExamples:\n  $ paved teams ls\n  $ paved teams show risk\n  $ paved teams add-member risk ada --role developer");

  teams
    .command("ls")
    .description("Your teams (every team for platform admins)")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved teams ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listTeams();
      if (opts.json) return ctx.json({ teams: list });
      ctx.out(
        renderTable(list, [
          { header: "TEAM", value: (t) => t.name },
          { header: "MEMBERS", value: (t) => t.members.length },
          { header: "ADMINS", value: (t) => t.members.filter((m) => m.role === "admin").map((m) => m.user).join(",") || "-" },
          { header: "DESCRIPTION", value: (t) => t.description },
        ]),
      );
    });

  teams
    .command("show")
    .argument("<team>", "team name")
    .description("A team's members and their roles")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved teams show risk")
    .action(async (name: string, opts: { json?: boolean }) => {
      const team = await (await ctx.client()).getTeam(name);
      if (opts.json) return ctx.json(team);
      ctx.out(renderTeam(team));
    });

  teams
    .command("create")
    .argument("<team>", "team name: lower-case letters, digits and '-'")
    .description("Create a team (platform admins)")
    .option("--description <text>", "what the team works on")
    .addHelpText("after", "\nExample:\n  $ paved teams create risk --description 'credit risk models'")
    .action(async (name: string, opts: { description?: string }) => {
      const team = await (await ctx.client()).createTeam({ name, ...(opts.description ? { description: opts.description } : {}) });
      ctx.out(`team ${team.name} created; add members with \`paved teams add-member ${team.name} <user> --role developer\`\n`);
    });

  teams
    .command("add-member")
    .argument("<team>", "team name")
    .argument("<user>", "user or service account name")
    .description("Give a user a role in the team, or change it (team admins)")
    .requiredOption("--role <role>", `one of ${TEAM_ROLES.join(", ")}`, parseRole)
    .addHelpText("after", "\nExample:\n  $ paved teams add-member risk ada --role maintainer")
    .action(async (team: string, user: string, opts: { role: TeamRole }) => {
      ctx.out(renderTeam(await (await ctx.client()).setTeamMember(team, user, opts.role)));
    });

  teams
    .command("remove-member")
    .argument("<team>", "team name")
    .argument("<user>", "user or service account name")
    .description("Take a user out of the team; their next request no longer sees it (team admins)")
    .addHelpText("after", "\nExample:\n  $ paved teams remove-member risk ada")
    .action(async (team: string, user: string) => {
      ctx.out(renderTeam(await (await ctx.client()).removeTeamMember(team, user)));
    });

  teams
    .command("add-service-account")
    .argument("<team>", "team name")
    .argument("<name>", "service account name, e.g. ci-deployer")
    .description("Create a service account for CI or automation, with a role in the team (team admins)")
    .requiredOption("--role <role>", `one of ${TEAM_ROLES.join(", ")}`, parseRole)
    .addHelpText("after", "\nExample:\n  $ paved teams add-service-account risk ci-deployer --role developer")
    .action(async (team: string, name: string, opts: { role: TeamRole }) => {
      const account = await (await ctx.client()).createServiceAccount(team, { name, role: opts.role });
      ctx.out(`service account ${account.name} is ${opts.role} in ${team}; give it a token with \`paved teams service-account-token ${team} ${account.name} --name ci\`\n`);
    });

  teams
    .command("service-account-token")
    .argument("<team>", "team name")
    .argument("<account>", "service account name")
    .description("Create a token for one of the team's service accounts and print it once (team admins)")
    .requiredOption("--name <name>", "what it is for, e.g. ci")
    .option("--expires-in <days>", "days until it stops working (1 to 366)", parseInteger("--expires-in", 1), 90)
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved teams service-account-token risk ci-deployer --name github-actions --expires-in 30")
    .action(async (team: string, account: string, opts: { name: string; expiresIn: number; json?: boolean }) => {
      const created = await (await ctx.client()).createServiceAccountToken(team, account, { name: opts.name, expiresInDays: opts.expiresIn });
      if (opts.json) return ctx.json(created);
      ctx.note(`token ${created.id} (${created.name}) for ${created.user}, expires ${formatTime(created.expiresAt, ctx.now())}; it is shown once:`);
      ctx.out(`${created.token}\n`);
    });
}

function renderTeam(team: Team): string {
  return (
    renderFields([
      ["Team", team.name],
      ["Description", team.description],
    ]) +
    "\n" +
    renderTable(team.members, [
      { header: "MEMBER", value: (m) => m.user },
      { header: "KIND", value: (m) => m.kind },
      { header: "ROLE", value: (m) => m.role },
    ])
  );
}

/** `paved users …`: people and service accounts (platform admins). */
export function registerUsers(program: Command, ctx: CliContext): void {
  const users = program
    .command("users")
    .description("People and service accounts (platform admins); people from SSO appear at their first login")
    .addHelpText("after", "\nExamples:\n  $ paved users ls\n  $ paved users create ada --team risk:developer");

  users
    .command("ls")
    .description("List users and service accounts with their teams")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved users ls")
    .action(async (opts: { json?: boolean }) => {
      const list = await (await ctx.client()).listUsers();
      if (opts.json) return ctx.json({ users: list });
      ctx.out(renderUsers(list));
    });

  users
    .command("create")
    .argument("<name>", "login name: lower-case letters, digits, '.', '_', '@', '-'")
    .description("Create a user (or --service account) with roles in teams; then give them a token")
    .option("--team <team:role>", "a team and the role there (repeat for several)", (value: string, all: { team: string; role: TeamRole }[] = []) => {
      const [team, role] = value.split(":");
      if (!team || !role) throw invalidInput(`--team '${value}' is not team:role; write e.g. --team risk:developer`);
      return [...all, { team, role: parseRole(role) }];
    })
    .option("--service", "a service account (CI, automation) rather than a person")
    .option("--email <email>", "their email")
    .option("--display-name <name>", "the name people see")
    .option("--platform-admin", "may do everything, in every team")
    .addHelpText("after", "\nExamples:\n  $ paved users create ada --team risk:developer --email ada@example.com\n  $ paved users create nightly --service --team risk:developer")
    .action(async (name: string, opts: { team?: { team: string; role: TeamRole }[]; service?: boolean; email?: string; displayName?: string; platformAdmin?: boolean }) => {
      const user = await (await ctx.client()).createUser({
        name,
        kind: opts.service ? "service" : "user",
        ...(opts.email ? { email: opts.email } : {}),
        ...(opts.displayName ? { displayName: opts.displayName } : {}),
        ...(opts.platformAdmin ? { platformAdmin: true } : {}),
        ...(opts.team ? { teams: opts.team } : {}),
      });
      ctx.out(renderUsers([user]));
    });

  users
    .command("token")
    .argument("<name>", "user or service account name")
    .description("Create a token for a user and print it once (platform admins: a person's first token before single sign-on)")
    .requiredOption("--name <token-name>", "what it is for, e.g. laptop")
    .option("--expires-in <days>", "days until it stops working (1 to 366)", parseInteger("--expires-in", 1), 90)
    .option("--team <team>", "the team new resources go to when a request names none")
    .option("--json", "print JSON")
    .addHelpText("after", "\nExample:\n  $ paved users token ada --name laptop --expires-in 7")
    .action(async (user: string, opts: { name: string; expiresIn: number; team?: string; json?: boolean }) => {
      const created = await (await ctx.client()).createUserToken(user, { name: opts.name, expiresInDays: opts.expiresIn, ...(opts.team ? { team: opts.team } : {}) });
      if (opts.json) return ctx.json(created);
      ctx.note(`token ${created.id} (${created.name}) for ${created.user}, expires ${formatTime(created.expiresAt, ctx.now())}; it is shown once:`);
      ctx.out(`${created.token}\n`);
    });

  users
    .command("disable")
    .argument("<name>", "user or service account name")
    .description("Disable a user or service account: all their tokens stop working at once")
    .addHelpText("after", "\nExample:\n  $ paved users disable ada")
    .action(async (name: string) => {
      await (await ctx.client()).disableUser(name);
      ctx.out(`${name} disabled; their tokens no longer work\n`);
    });
}

function renderUsers(list: User[]): string {
  return renderTable(list, [
    { header: "NAME", value: (u) => u.name },
    { header: "KIND", value: (u) => u.kind },
    { header: "TEAMS", value: (u) => u.teams.map((t) => `${t.team}:${t.role}`).join(",") || "-" },
    { header: "ADMIN", value: (u) => (u.platformAdmin ? "platform" : "-") },
    { header: "SSO", value: (u) => (u.sso ? "yes" : "-") },
    { header: "STATE", value: (u) => (u.disabled ? "disabled" : "active") },
  ]);
}
