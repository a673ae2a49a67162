import type { Kysely, Selectable } from "kysely";
import type { Tables } from "../../storage/index.ts";
import type { WorkspaceEvent, WorkspacePhase } from "./schema.ts";

export type WorkspaceRow = Selectable<Tables["workspaces"]>;
export type SessionRow = Selectable<Tables["workspace_sessions"]>;
export type WorkspacePatch = Partial<Omit<WorkspaceRow, "workspace_id" | "created_at">>;

/**
 * Workspaces, their sessions and events. A phase change is a conditional update ("only if still in
 * one of these phases") written with its event in one transaction, as jobs' are.
 */
export class WorkspaceStore {
  constructor(readonly db: Kysely<Tables>) {}

  async insert(row: WorkspaceRow, event: Omit<WorkspaceEvent, "time">): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto("workspaces").values(row).execute();
      await trx.insertInto("workspace_events").values({ workspace_id: row.workspace_id, time: row.created_at, ...event }).execute();
    });
  }

  get(id: string): Promise<WorkspaceRow | undefined> {
    return this.db.selectFrom("workspaces").selectAll().where("workspace_id", "=", id).executeTakeFirst();
  }

  async nameTaken(team: string, name: string): Promise<boolean> {
    return (await this.db.selectFrom("workspaces").select("workspace_id").where("team_id", "=", team).where("name", "=", name).executeTakeFirst()) !== undefined;
  }

  /** Newest first; with `teams`, only those teams' (none for an empty list). */
  async list(opts: { teams?: readonly string[] | undefined; phases?: readonly WorkspacePhase[] }): Promise<WorkspaceRow[]> {
    if (opts.teams?.length === 0) return [];
    let q = this.db.selectFrom("workspaces").selectAll();
    if (opts.teams) q = q.where("team_id", "in", [...opts.teams]);
    if (opts.phases) q = q.where("phase", "in", [...opts.phases]);
    return q.orderBy("created_at", "desc").orderBy("workspace_id", "desc").execute();
  }

  /** Moves the workspace to `to` if it is still in one of `from`; false when another actor moved it first. */
  async transition(id: string, from: readonly WorkspacePhase[], to: WorkspacePhase, patch: WorkspacePatch, event: WorkspaceEvent): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable("workspaces")
        .set({ ...patch, phase: to, updated_at: event.time })
        .where("workspace_id", "=", id)
        .where("phase", "in", [...from])
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx.insertInto("workspace_events").values({ workspace_id: id, ...event }).execute();
      return true;
    });
  }

  /**
   * Takes a running warm-pool workspace for someone: rewrites it (name, owner, spec, experiment) only
   * if it is still RUNNING and still the pool's; false when another request took it first.
   */
  async claim(id: string, poolOwner: string, patch: Partial<Omit<WorkspaceRow, "workspace_id">>): Promise<boolean> {
    const result = await this.db.updateTable("workspaces").set(patch).where("workspace_id", "=", id).where("phase", "=", "RUNNING").where("owner", "=", poolOwner).executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Updates fields without changing the phase, if it is still in one of `phases`. */
  async patch(id: string, phases: readonly WorkspacePhase[] | undefined, patch: WorkspacePatch): Promise<boolean> {
    let q = this.db.updateTable("workspaces").set(patch).where("workspace_id", "=", id);
    if (phases) q = q.where("phase", "in", [...phases]);
    return Number((await q.executeTakeFirst()).numUpdatedRows) > 0;
  }

  async appendEvent(id: string, event: WorkspaceEvent): Promise<void> {
    await this.db.insertInto("workspace_events").values({ workspace_id: id, ...event }).execute();
  }

  async events(ids: readonly string[]): Promise<Map<string, WorkspaceEvent[]>> {
    const out = new Map<string, WorkspaceEvent[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.db.selectFrom("workspace_events").selectAll().where("workspace_id", "in", [...ids]).orderBy("id", "asc").execute();
    for (const r of rows) out.get(r.workspace_id)?.push({ time: Number(r.time), type: r.type, message: r.message });
    return out;
  }

  async insertSession(row: SessionRow): Promise<void> {
    await this.db.insertInto("workspace_sessions").values(row).execute();
  }

  async session(id: string, session: number): Promise<SessionRow | undefined> {
    return this.db.selectFrom("workspace_sessions").selectAll().where("workspace_id", "=", id).where("session", "=", session).executeTakeFirst();
  }

  async patchSession(id: string, session: number, patch: Partial<SessionRow>): Promise<void> {
    await this.db.updateTable("workspace_sessions").set(patch).where("workspace_id", "=", id).where("session", "=", session).execute();
  }

  /** Ready times (ms) of sessions that became ready, per profile, since `since`. */
  async readyTimes(since: number): Promise<{ profile: string; ready_ms: number; from_pool: number }[]> {
    const rows = await this.db
      .selectFrom("workspace_sessions")
      .select(["profile", "ready_ms", "from_pool"])
      .where("ready_ms", "is not", null)
      .where("requested_at", ">=", since)
      .execute();
    return rows.map((r) => ({ profile: r.profile, ready_ms: Number(r.ready_ms), from_pool: Number(r.from_pool) }));
  }

  /** Removes a workspace and everything recorded of it. */
  async delete(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("workspace_logins").where("workspace_id", "=", id).execute();
      await trx.deleteFrom("workspace_events").where("workspace_id", "=", id).execute();
      await trx.deleteFrom("workspace_sessions").where("workspace_id", "=", id).execute();
      await trx.deleteFrom("workspaces").where("workspace_id", "=", id).execute();
    });
  }

  /** Bytes of workspace homes per team (the storage quota counts them). */
  async homeBytes(teams?: readonly string[]): Promise<Map<string, number>> {
    let q = this.db.selectFrom("workspaces").select(["team_id", "home_bytes"]);
    if (teams) {
      if (teams.length === 0) return new Map();
      q = q.where("team_id", "in", [...teams]);
    }
    const out = new Map<string, number>();
    for (const r of await q.execute()) out.set(r.team_id, (out.get(r.team_id) ?? 0) + Number(r.home_bytes));
    return out;
  }

  async insertLogin(row: Selectable<Tables["workspace_logins"]>): Promise<void> {
    await this.db.insertInto("workspace_logins").values(row).execute();
  }

  async login(hash: string): Promise<Selectable<Tables["workspace_logins"]> | undefined> {
    return this.db.selectFrom("workspace_logins").selectAll().where("key_hash", "=", hash).executeTakeFirst();
  }

  /** Deletes a login; true when this call removed it (a one-time code is used once). */
  async takeLogin(hash: string): Promise<boolean> {
    return Number((await this.db.deleteFrom("workspace_logins").where("key_hash", "=", hash).executeTakeFirst()).numDeletedRows) > 0;
  }

  async pruneLogins(now: number): Promise<void> {
    await this.db.deleteFrom("workspace_logins").where("expires_at", "<", now).execute();
  }
}
