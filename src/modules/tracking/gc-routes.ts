import { z } from "zod";
import { notFound, parseDurationSeconds, route, type RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { RunCollector } from "./gc.ts";
import { GcReportView, GcRequest, TeamStorageList, TeamStorageView } from "./gc-schema.ts";
import { teamStorage, type TeamStorage } from "./storage-report.ts";

/** How long a storage report is answered again from memory, and how many are kept. */
const STORAGE_CACHE_MS = 30_000;
const STORAGE_CACHE_ENTRIES = 256;

const TeamParams = z.object({ team: z.string().min(1).max(63) });

/** Garbage collection of deleted runs (platform admins) and storage per team (its members). */
export function gcRoutes(collector: RunCollector, database: Database, retentionMs: () => number): RouteDefinition[] {
  // The sums scan every artifact row and metric chunk of the teams asked for (on SQLite, on the
  // main thread): a reader asking again within STORAGE_CACHE_MS gets the same figures, unless a
  // garbage collection removed something since.
  const recent = new Map<string, { at: number; value: Promise<TeamStorage[]> }>();
  const storageOf = (teams: string[]): Promise<TeamStorage[]> => {
    const key = JSON.stringify([collector.collections, teams]);
    const now = Date.now();
    for (const [k, v] of recent) if (now - v.at > STORAGE_CACHE_MS) recent.delete(k);
    let hit = recent.get(key);
    if (!hit) {
      if (recent.size >= STORAGE_CACHE_ENTRIES) recent.clear();
      hit = { at: now, value: teamStorage(database.db, teams, retentionMs()) };
      hit.value.catch(() => recent.delete(key));
      recent.set(key, hit);
    }
    return hit.value;
  };
  const missingTeam = (team: string) => notFound(`team '${team}' does not exist; list yours with \`paved teams ls\``);
  const teamResource = (team: string) => ({ kind: "team" as const, id: team, team, notFound: () => missingTeam(team) });
  return [
    route({
      method: "POST",
      url: "/api/v1/admin/gc",
      summary:
        "Garbage-collect deleted runs (platform admins): runs deleted more than `olderThan` ago (default tracking.retentionDays) lose their metrics, params, tags, inputs and artifacts, and leave a tombstone; blobs nothing else names leave the artifact store. `dryRun` only counts",
      tags: ["tracking"],
      action: "tracking:gc",
      body: GcRequest,
      response: GcReportView,
      handler: async ({ body }) => collector.collect({ dryRun: body.dryRun, olderThanMs: body.olderThan === undefined ? undefined : Math.round(parseDurationSeconds(body.olderThan)! * 1000) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/storage",
      summary: "Storage of your teams (every team for a platform admin): run artifacts, metric data, models, datasets, workspaces, what is pending collection",
      tags: ["tracking"],
      action: "teams:read",
      response: TeamStorageList,
      handler: async ({ principal }) => {
        const visible = visibleTeams(principal, "teams:read");
        const teams = visible ?? (await database.db.selectFrom("teams").select("team_id").orderBy("team_id").execute()).map((t) => t.team_id);
        return { teams: await storageOf([...teams].sort()) };
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/teams/:team/storage",
      summary: "A team's storage by kind: run artifacts, metric data, models, datasets, evaluation uploads, workspaces, deleted runs pending collection, what collection freed",
      tags: ["tracking"],
      action: "teams:read",
      params: TeamParams,
      resource: async ({ params }) => teamResource(params.team),
      response: TeamStorageView,
      handler: async ({ params }) => {
        const team = await database.db.selectFrom("teams").select("team_id").where("team_id", "=", params.team).executeTakeFirst();
        if (!team) throw missingTeam(params.team);
        return (await storageOf([params.team]))[0]!;
      },
    }),
  ];
}
