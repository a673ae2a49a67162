import type { Kysely } from "kysely";
import { alreadyExists, conflict, invalidInput, notFound, TEAM_ROLES, type Clock, type IdGenerator, type Principal, type TeamRole } from "../../core/index.ts";
import { BOOTSTRAP_ADMIN_ID, type Tables } from "../../storage/index.ts";
import type { TokenService } from "./token-service.ts";

/** Team names are what specs, tokens and SSO group mappings name: DNS labels, like namespaces. */
export const TEAM_NAME = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** User and service-account names: what runs, jobs and the audit log show. */
export const USER_NAME = /^[a-z0-9]([a-z0-9._@-]{0,126}[a-z0-9])?$/;

export interface UserView {
  id: string;
  name: string;
  kind: "user" | "service";
  displayName: string | null;
  email: string | null;
  platformAdmin: boolean;
  disabled: boolean;
  /** Set for users who came from single sign-on. */
  sso: { issuer: string; subject: string } | null;
  teams: { team: string; role: TeamRole }[];
  createdAt: number;
}

export interface TeamView {
  name: string;
  description: string | null;
  createdAt: number;
  members: { user: string; kind: "user" | "service"; role: TeamRole }[];
}

/** Who the platform knows: users, service accounts, teams and who holds which role in each. */
export class IdentityService {
  constructor(
    private readonly deps: {
      db: Kysely<Tables>;
      tokens: TokenService;
      clock: Clock;
      ids: IdGenerator;
    },
  ) {}

  // ---- teams ----

  async createTeam(input: { name: string; description?: string | undefined }): Promise<TeamView> {
    checkTeamName(input.name);
    const existing = await this.deps.db.selectFrom("teams").select("team_id").where("team_id", "=", input.name).executeTakeFirst();
    if (existing) throw alreadyExists(`team '${input.name}' already exists; see it with \`paved teams show ${input.name}\``);
    await this.deps.db.insertInto("teams").values({ team_id: input.name, description: input.description ?? null, created_at: this.deps.clock.now() }).execute();
    return this.getTeam(input.name);
  }

  /** The teams `principal` belongs to (every team for a platform admin), by name. */
  async listTeams(principal: Principal): Promise<TeamView[]> {
    let query = this.deps.db.selectFrom("teams").select("team_id").orderBy("team_id");
    if (!principal.platformAdmin) {
      const mine = Object.keys(principal.teams);
      if (!mine.length) return [];
      query = query.where("team_id", "in", mine);
    }
    const names = (await query.execute()).map((r) => r.team_id);
    return Promise.all(names.map((n) => this.getTeam(n)));
  }

  async getTeam(name: string): Promise<TeamView> {
    const team = await this.deps.db.selectFrom("teams").selectAll().where("team_id", "=", name).executeTakeFirst();
    if (!team) throw missingTeam(name);
    const members = await this.deps.db
      .selectFrom("team_members")
      .innerJoin("users", "users.user_id", "team_members.user_id")
      .select(["users.name", "users.kind", "team_members.role"])
      .where("team_members.team_id", "=", name)
      .orderBy("users.name")
      .execute();
    return {
      name: team.team_id,
      description: team.description,
      createdAt: team.created_at,
      members: members.map((m) => ({ user: m.name, kind: m.kind === "service" ? "service" : "user", role: m.role as TeamRole })),
    };
  }

  /** Gives a user (or service account) a role in a team, or changes it. Takes effect at once. */
  async setMember(team: string, userName: string, role: TeamRole): Promise<TeamView> {
    checkRole(role);
    await this.getTeam(team);
    const user = await this.userRow(userName);
    const now = this.deps.clock.now();
    await this.deps.db.transaction().execute(async (tx) => {
      await tx.deleteFrom("team_members").where("team_id", "=", team).where("user_id", "=", user.user_id).execute();
      await tx.insertInto("team_members").values({ team_id: team, user_id: user.user_id, role, created_at: now }).execute();
    });
    this.deps.tokens.forgetAll();
    return this.getTeam(team);
  }

  /** Takes a user out of a team; their next request no longer sees it. */
  async removeMember(team: string, userName: string): Promise<TeamView> {
    await this.getTeam(team);
    const user = await this.userRow(userName);
    const removed = await this.deps.db.deleteFrom("team_members").where("team_id", "=", team).where("user_id", "=", user.user_id).executeTakeFirst();
    if (Number(removed.numDeletedRows) === 0) throw notFound(`'${userName}' is not a member of team '${team}'; see its members with \`paved teams show ${team}\``);
    this.deps.tokens.forgetAll();
    return this.getTeam(team);
  }

  // ---- users and service accounts ----

  async createUser(input: {
    name: string;
    kind: "user" | "service";
    displayName?: string | undefined;
    email?: string | undefined;
    platformAdmin?: boolean | undefined;
    teams?: { team: string; role: TeamRole }[] | undefined;
  }): Promise<UserView> {
    checkUserName(input.name);
    if (input.kind === "service" && input.platformAdmin) {
      throw invalidInput("a service account cannot be a platform admin; give it a role in the teams it works for");
    }
    const existing = await this.deps.db.selectFrom("users").select("user_id").where("name", "=", input.name).executeTakeFirst();
    if (existing) throw alreadyExists(`a user or service account named '${input.name}' already exists; pick another name`);
    for (const t of input.teams ?? []) {
      checkRole(t.role);
      await this.getTeam(t.team);
    }
    const userId = this.deps.ids.prefixed(input.kind === "service" ? "svc" : "usr");
    const now = this.deps.clock.now();
    await this.deps.db.transaction().execute(async (tx) => {
      await tx
        .insertInto("users")
        .values({
          user_id: userId,
          name: input.name,
          kind: input.kind,
          display_name: input.displayName ?? null,
          email: input.email ?? null,
          platform_admin: input.platformAdmin ? 1 : 0,
          sso_issuer: null,
          sso_subject: null,
          created_at: now,
          disabled_at: null,
        })
        .execute();
      for (const t of input.teams ?? []) await tx.insertInto("team_members").values({ team_id: t.team, user_id: userId, role: t.role, created_at: now }).execute();
    });
    return this.getUser(input.name);
  }

  async listUsers(): Promise<UserView[]> {
    const names = await this.deps.db.selectFrom("users").select("name").orderBy("name").execute();
    return Promise.all(names.map((r) => this.getUser(r.name)));
  }

  async getUser(name: string): Promise<UserView> {
    const row = await this.userRow(name);
    const teams = await this.deps.db.selectFrom("team_members").select(["team_id", "role"]).where("user_id", "=", row.user_id).orderBy("team_id").execute();
    return {
      id: row.user_id,
      name: row.name,
      kind: row.kind === "service" ? "service" : "user",
      displayName: row.display_name,
      email: row.email,
      platformAdmin: row.platform_admin === 1,
      disabled: row.disabled_at !== null,
      sso: row.sso_issuer && row.sso_subject ? { issuer: row.sso_issuer, subject: row.sso_subject } : null,
      teams: teams.map((t) => ({ team: t.team_id, role: t.role as TeamRole })),
      createdAt: row.created_at,
    };
  }

  /** A service account that belongs to `team`; NOT_FOUND otherwise (a team admin sees only their team's). */
  async serviceAccountOf(team: string, name: string): Promise<UserView> {
    const account = await this.getUser(name).catch(() => undefined);
    if (!account || account.kind !== "service" || !account.teams.some((t) => t.team === team)) {
      throw notFound(`team '${team}' has no service account '${name}'; see its members with \`paved teams show ${team}\``);
    }
    return account;
  }

  /** The user id behind a name (tokens, the policy's "self"); NOT_FOUND when there is none. */
  async userId(name: string): Promise<string> {
    return (await this.userRow(name)).user_id;
  }

  /** Disables a user or service account: every token of theirs stops working at once. */
  async disableUser(name: string): Promise<UserView> {
    const row = await this.userRow(name);
    if (row.user_id === BOOTSTRAP_ADMIN_ID) throw conflict("the bootstrap admin cannot be disabled; rotate its token with PAVED_ADMIN_TOKEN instead");
    await this.deps.db.updateTable("users").set({ disabled_at: this.deps.clock.now() }).where("user_id", "=", row.user_id).execute();
    await this.deps.tokens.revokeAllOf(row.user_id);
    return this.getUser(name);
  }

  /**
   * The user a single sign-on login stands for: found by (issuer, subject), else created with a
   * free name from the claims. Their team roles are set to what the groups map to, so a user
   * taken out of a group loses the team at their next login (and their tokens at once).
   */
  async upsertSsoUser(input: {
    issuer: string;
    subject: string;
    preferredName: string;
    displayName?: string | undefined;
    email?: string | undefined;
    platformAdmin: boolean;
    teams: { team: string; role: TeamRole }[];
  }): Promise<UserView> {
    const now = this.deps.clock.now();
    let row = await this.deps.db.selectFrom("users").selectAll().where("sso_issuer", "=", input.issuer).where("sso_subject", "=", input.subject).executeTakeFirst();
    if (!row) {
      const name = await this.freeName(input.preferredName);
      const userId = this.deps.ids.prefixed("usr");
      await this.deps.db
        .insertInto("users")
        .values({
          user_id: userId,
          name,
          kind: "user",
          display_name: input.displayName ?? null,
          email: input.email ?? null,
          platform_admin: input.platformAdmin ? 1 : 0,
          sso_issuer: input.issuer,
          sso_subject: input.subject,
          created_at: now,
          disabled_at: null,
        })
        .execute();
      row = await this.deps.db.selectFrom("users").selectAll().where("user_id", "=", userId).executeTakeFirstOrThrow();
    } else {
      await this.deps.db
        .updateTable("users")
        .set({ display_name: input.displayName ?? row.display_name, email: input.email ?? row.email, platform_admin: input.platformAdmin ? 1 : 0 })
        .where("user_id", "=", row.user_id)
        .execute();
    }
    const userId = row.user_id;
    const known = new Set((await this.deps.db.selectFrom("teams").select("team_id").execute()).map((t) => t.team_id));
    await this.deps.db.transaction().execute(async (tx) => {
      await tx.deleteFrom("team_members").where("user_id", "=", userId).execute();
      for (const t of input.teams) {
        if (known.has(t.team)) await tx.insertInto("team_members").values({ team_id: t.team, user_id: userId, role: t.role, created_at: now }).execute();
      }
    });
    this.deps.tokens.forgetAll();
    return this.getUser(row.name);
  }

  private async freeName(preferred: string): Promise<string> {
    const base = preferred.toLowerCase().replace(/[^a-z0-9._@-]+/g, "-").replace(/^[^a-z0-9]+/, "").slice(0, 100).replace(/[^a-z0-9]+$/, "") || "user";
    for (let i = 0; ; i++) {
      const name = i === 0 ? base : `${base}-${i + 1}`;
      if (!(await this.deps.db.selectFrom("users").select("user_id").where("name", "=", name).executeTakeFirst())) return name;
    }
  }

  private async userRow(name: string) {
    const row = await this.deps.db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    if (!row) throw notFound(`user '${name}' does not exist; list users with \`paved users ls\``);
    return row;
  }
}

/**
 * The team a new resource goes to: the one the request names, else the token's team, else the only
 * team where the principal may create. A team the principal is not in answers as a missing one.
 */
export async function teamForNew(db: Kysely<Tables>, principal: Principal, requested: string | undefined | null): Promise<string> {
  const canCreate = (role: TeamRole) => TEAM_ROLES.indexOf(role) >= TEAM_ROLES.indexOf("developer");
  if (requested) {
    if (principal.kind === "job") {
      if (requested !== principal.team) throw missingTeam(requested);
      return requested;
    }
    if (principal.teams[requested] !== undefined) return requested;
    if (principal.platformAdmin && (await db.selectFrom("teams").select("team_id").where("team_id", "=", requested).executeTakeFirst())) return requested;
    throw missingTeam(requested);
  }
  if (principal.team) return principal.team;
  const creators = Object.entries(principal.teams)
    .filter(([, role]) => canCreate(role))
    .map(([team]) => team);
  if (creators.length === 1) return creators[0]!;
  if (creators.length === 0) {
    throw invalidInput(`${principal.name} is not a developer in any team, so this has nowhere to go; ask a team admin for a role (\`paved teams ls\`)`);
  }
  throw invalidInput(`${principal.name} may create in teams ${creators.sort().join(", ")}; say which with --team (or the request's team field, or a token made with --team)`, {
    teams: creators,
  });
}

function missingTeam(name: string) {
  return notFound(`team '${name}' does not exist; list yours with \`paved teams ls\``);
}

function checkTeamName(name: string): void {
  if (!TEAM_NAME.test(name)) throw invalidInput(`team name '${name}' is not allowed; use lower-case letters, digits and '-' (at most 63, starting with a letter), e.g. risk-models`);
}

function checkUserName(name: string): void {
  if (!USER_NAME.test(name)) throw invalidInput(`user name '${name}' is not allowed; use lower-case letters, digits, '.', '_', '@' and '-' (at most 128), e.g. ada or ci-deployer`);
}

function checkRole(role: string): void {
  if (!(TEAM_ROLES as readonly string[]).includes(role)) throw invalidInput(`role '${role}' does not exist; choose one of ${TEAM_ROLES.join(", ")}`);
}
