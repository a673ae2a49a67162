import { PlatformError, notFound, type Clock, type IdGenerator, type Principal } from "../../core/index.ts";
import { authorize, teamForNew, visibleTeams } from "../identity/index.ts";
import type { Kysely } from "kysely";
import type { Tables } from "../../storage/index.ts";
import { MAX_SECRETS_PER_TEAM, type PutSecretBody, type SecretView } from "./schema.ts";
import type { SecretKey } from "./secret-key.ts";
import { SecretStore, type SecretRow } from "./store.ts";

/** What server code (a connector) gets to read one team's secrets by name. No route hands one out. */
export interface SecretReader {
  /** The value of the team's secret; NOT_FOUND (saying how to set it) when the team has none of that name. */
  read(name: string): Promise<string>;
}

export interface SecretServiceDeps {
  db: Kysely<Tables>;
  key: SecretKey;
  clock: Clock;
  ids: IdGenerator;
}

/** The associated data of a value: a value copied to another team's or name's row does not decrypt. */
const associated = (team: string, name: string) => `${team}\0${name}`;

/**
 * Teams' secrets: set and deleted by the team's maintainers, listed (names only) by its developers,
 * read in plain text only through `reader`, by the server.
 */
export class SecretService {
  private readonly store: SecretStore;

  constructor(private readonly deps: SecretServiceDeps) {
    this.store = new SecretStore(deps.db);
  }

  /** Sets a secret (creates it, or replaces its value). */
  async put(name: string, body: PutSecretBody, principal: Principal): Promise<SecretView> {
    const team = await this.writableTeam(principal, body.team, name);
    const existing = await this.store.get(team, name);
    if (!existing && (await this.store.count(team)) >= MAX_SECRETS_PER_TEAM) {
      throw new PlatformError("QUOTA_EXCEEDED", `team '${team}' has ${MAX_SECRETS_PER_TEAM} secrets, the most a team may have; delete unused ones first (\`paved secrets ls\`, \`paved secrets rm\`)`);
    }
    const now = this.deps.clock.now();
    const who = principal.onBehalfOf ?? principal.name;
    const row: SecretRow = {
      secret_id: existing?.secret_id ?? this.deps.ids.prefixed("sec"),
      team_id: team,
      name,
      ciphertext: this.deps.key.encrypt(body.value, associated(team, name)),
      key_id: this.deps.key.id,
      created_by: existing?.created_by ?? who,
      created_at: existing?.created_at ?? now,
      updated_by: who,
      updated_at: now,
    };
    await this.store.upsert(row);
    return view((await this.store.get(team, name)) ?? row);
  }

  /** The secrets of the caller's teams (those where it may list them), without values. */
  async list(principal: Principal): Promise<SecretView[]> {
    const teams = visibleTeams(principal, "secrets:read");
    if (teams?.length === 0) return [];
    return (await this.store.list(teams)).map(view);
  }

  async delete(name: string, team: string | undefined, principal: Principal): Promise<void> {
    const teamId = await this.writableTeam(principal, team, name);
    if (!(await this.store.delete(teamId, name))) throw missing(teamId, name);
  }

  /** Reads one team's secrets in plain text: for server code only (connectors), after it authorized its caller. */
  reader(team: string): SecretReader {
    return {
      read: async (name) => {
        const row = await this.store.get(team, name);
        if (!row) throw missing(team, name);
        if (row.key_id !== this.deps.key.id) {
          throw new PlatformError(
            "CONFIG",
            `secret '${name}' of team '${team}' was written under another secrets key (${row.key_id}) than the server's (${this.deps.key.id}); start the server with the key file it was written with (secrets.keyFile), or set it again with \`paved secrets set ${name} --team ${team}\``,
            { team, name },
          );
        }
        const value = this.deps.key.decrypt(row.ciphertext, associated(team, name));
        if (value === undefined) {
          throw new PlatformError("CONFIG", `secret '${name}' of team '${team}' does not decrypt under the server's secrets key: it was altered in the database; set it again with \`paved secrets set ${name} --team ${team}\``, { team, name });
        }
        return value;
      },
    };
  }

  private async writableTeam(principal: Principal, team: string | undefined, name: string): Promise<string> {
    const teamId = await teamForNew(this.deps.db, principal, team);
    authorize(principal, "secrets:write", { kind: "secret", id: name, team: teamId, notFound: () => missing(teamId, name) });
    return teamId;
  }
}

function missing(team: string, name: string): PlatformError {
  return notFound(`team '${team}' has no secret '${name}'; list them with \`paved secrets ls\`, or set it with \`paved secrets set ${name} --team ${team}\``, { team, name });
}

function view(r: Omit<SecretRow, "ciphertext" | "key_id">): SecretView {
  return { team: r.team_id, name: r.name, createdBy: r.created_by, createdAt: r.created_at, updatedBy: r.updated_by, updatedAt: r.updated_at };
}
