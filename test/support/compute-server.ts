import { join } from "node:path";
import { openTestDatabase } from "./databases.ts";
import { LocalArtifactStore } from "../../src/artifacts/index.ts";
import { configSchema, type ConfigInput } from "../../src/config/index.ts";
import { createLogger, randomIds, systemClock } from "../../src/core/index.ts";
import { buildServer } from "../../src/http/index.ts";
import { createCatalogModule } from "../../src/modules/catalog/index.ts";
import { IdentityService, TokenService } from "../../src/modules/identity/index.ts";
import type { Dialect } from "../../src/storage/index.ts";
import { createTrackingModule } from "../../src/modules/tracking/index.ts";
import { createComputeModule } from "../../src/modules/compute/index.ts";

export const TEST_ADMIN_TOKEN = "admin-token-for-tests-0123456789";

/**
 * For route tests: the compute routes (with tracking and the catalog) on a fresh database (SQLite
 * unless `dialect` says otherwise), the controller started, `TEST_ADMIN_TOKEN` accepted; `identity`
 * makes teams, users and their tokens. `close()` stops and removes it all.
 */
export async function createComputeTestServer(compute: NonNullable<ConfigInput["compute"]>, dialect: Dialect = "sqlite") {
  const database = await openTestDatabase(dialect);
  const config = configSchema.parse({ dataDir: database.dataDir, compute: { python: "/nonexistent/python3", ...compute } });
  const logger = createLogger("silent");
  const artifacts = new LocalArtifactStore(join(database.dataDir, "artifacts"));
  const tokens = new TokenService(database.db, systemClock, randomIds);
  await tokens.ensureAdmin(TEST_ADMIN_TOKEN);
  const identity = new IdentityService({ db: database.db, tokens, clock: systemClock, ids: randomIds });
  const tracking = createTrackingModule({ database, artifacts, clock: systemClock, ids: randomIds, config, logger });
  const catalog = createCatalogModule({});
  const module = await createComputeModule({
    database,
    artifacts,
    clock: systemClock,
    ids: randomIds,
    config,
    logger,
    runs: tracking.service,
    tokens: { mintToken: (id) => tokens.mintForJob(id, 3600_000), revokeToken: (id) => tokens.revokeForJob(id) },
    serverUrl: () => "http://127.0.0.1:9",
    catalog: catalog.service,
    sweepMs: 50,
  });
  const server = buildServer({ routes: [...tracking.routes, ...catalog.routes, ...module.routes], tokens, logger, bodyLimit: 1 << 20, uploadLimit: 1 << 20, requestTimeoutMs: 60_000 });
  await module.controller.start();
  return {
    server,
    compute: module,
    tokens,
    identity,
    database,
    async close() {
      await module.controller.stop();
      // Keep-alive sockets left by the fetches of aborted follows would hold close() open.
      server.server.closeAllConnections();
      await server.close();
      await database.close();
    },
  };
}
