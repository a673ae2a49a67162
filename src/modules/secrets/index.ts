// Team secrets (issue 10, item 2): a team's named values (database passwords, S3 keys) that server
// code (dataset connectors) reads by name, so that specs, logs and audit records only ever name
// them. Values are AES-256-GCM encrypted under a key file the server holds, never in the database.
import { join } from "node:path";
import type { Clock, IdGenerator, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { secretRoutes } from "./routes.ts";
import { loadSecretKey, type SecretKey } from "./secret-key.ts";
import { SecretService } from "./service.ts";

export { SecretService, type SecretReader } from "./service.ts";
export { loadSecretKey, secretKeyFrom, type SecretKey } from "./secret-key.ts";
export { SecretView, PutSecretBody, SECRET_NAME, MAX_SECRET_BYTES } from "./schema.ts";

export interface SecretsDeps {
  database: Database;
  clock: Clock;
  ids: IdGenerator;
  /** The key file (secrets.keyFile); default <dataDir>/secrets.key. */
  keyFile: string | undefined;
  dataDir: string;
  /** A key made elsewhere (tests); otherwise the key file's. */
  key?: SecretKey;
}

export function createSecretsModule(deps: SecretsDeps): { service: SecretService; routes: RouteDefinition[] } {
  const key = deps.key ?? loadSecretKey(deps.keyFile ?? join(deps.dataDir, "secrets.key"));
  const service = new SecretService({ db: deps.database.db, key, clock: deps.clock, ids: deps.ids });
  return { service, routes: secretRoutes(service) };
}
