import { rm } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { route, type RouteDefinition } from "../../../core/index.ts";
import { aliasSchema, datasetParamsSchema, versionSchema, type DatasetVersionView } from "../schema.ts";
import type { DatasetService } from "../service.ts";
import type { ConnectorLimits, SecretReader, SourceDescription } from "./connector.ts";
import type { ConnectorRegistry } from "./registry.ts";
import { runSnapshot } from "./run-snapshot.ts";

/** POST /api/v1/datasets/:name/snapshots: a connector spec (its kind's schema is checked by the registry). */
export const SnapshotBody = z.strictObject({
  /** The connector spec: `kind: local | postgres | s3` and its fields (docs/datasets.md#connectors). */
  spec: z.record(z.string(), z.unknown()),
  /** The team of a dataset created by this call (one that exists keeps its team). */
  team: z.string().min(1).max(63).optional(),
  description: z.string().max(2000).optional(),
  alias: aliasSchema.optional(),
});

export interface SnapshotRoutesDeps {
  datasets: Pick<DatasetService, "creationResource" | "putFile" | "createVersion">;
  registry: ConnectorRegistry;
  /** A team's secrets, for server code (the secrets module's reader). */
  secrets: (team: string) => SecretReader;
  /** A folder of the server's where scratch folders are made. */
  workDir: string;
  limits: ConnectorLimits & { timeoutSeconds: number };
}

/** One line for a version's source: what was read, never a credential. */
export function describeSource(source: SourceDescription): string {
  const { kind, ...rest } = source;
  switch (kind) {
    case "postgres":
      return `postgres://${rest.user}@${rest.host}:${rest.port}/${rest.database}, query ${rest.queryDigest}: ${rest.rows} rows, ${rest.columns} columns`;
    case "s3":
      return `s3://${rest.bucket}/${rest.prefix} at ${rest.endpoint}: ${rest.objects} objects, ${rest.bytes} bytes`;
    case "local":
      return `local root '${rest.root}', path ${rest.path}: ${rest.files} files, ${rest.bytes} bytes`;
    default:
      return Object.entries(rest)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(", ");
  }
}

/**
 * Runs a connector for `team` and stores what it read as the dataset's next version (the existing
 * version when the files are the same), with the source described; the scratch folder is removed
 * whatever happens. The caller has authorized `datasets:write` on the dataset.
 */
export async function snapshotIntoDataset(
  deps: SnapshotRoutesDeps,
  input: { name: string; team: string; spec: unknown; description?: string | undefined; alias?: string | undefined; createdBy: string; signal?: AbortSignal },
): Promise<DatasetVersionView> {
  const snapshot = await runSnapshot({ registry: deps.registry, spec: input.spec, team: input.team, secrets: deps.secrets(input.team), workDir: deps.workDir, limits: deps.limits, ...(input.signal ? { signal: input.signal } : {}) });
  try {
    const files = [];
    for (const f of snapshot.files) {
      const blob = await deps.datasets.putFile(input.team, join(snapshot.dir, ...f.path.split("/")), { createdBy: input.createdBy, what: `dataset ${input.name}'s ${snapshot.source.kind} snapshot` });
      files.push({ path: f.path, ...blob });
    }
    return await deps.datasets.createVersion({
      team: input.team,
      name: input.name,
      files,
      source: { kind: snapshot.source.kind, description: describeSource(snapshot.source).slice(0, 2000) },
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.alias !== undefined ? { alias: input.alias } : {}),
      createdBy: input.createdBy,
    });
  } finally {
    await rm(snapshot.dir, { recursive: true, force: true });
  }
}

/** Snapshots a connector's source into a new version of a dataset (created in the team when new). */
export function snapshotRoutes(deps: SnapshotRoutesDeps): RouteDefinition[] {
  return [
    route({
      method: "POST",
      url: "/api/v1/datasets/:name/snapshots",
      summary:
        "Snapshot a connector's source (local root, PostgreSQL query, S3 prefix) into the dataset's next version, recording where it came from; credentials come from the team's secrets, hosts and roots from the server's config",
      tags: ["datasets"],
      action: "datasets:write",
      params: datasetParamsSchema,
      body: SnapshotBody,
      resource: async ({ params, body, principal }) => deps.datasets.creationResource(params.name, body.team, principal),
      response: versionSchema,
      // A client that leaves stops the snapshot (a PostgreSQL query is cancelled); the timeout bounds the rest.
      handler: async ({ params, body, principal, signal }) => {
        const team = (await deps.datasets.creationResource(params.name, body.team, principal)).team!;
        return snapshotIntoDataset(deps, { name: params.name, team, spec: body.spec, description: body.description, alias: body.alias, createdBy: principal.onBehalfOf ?? principal.name, signal });
      },
    }),
  ];
}
