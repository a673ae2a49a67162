import type { ArtifactStore } from "../artifacts/index.ts";
import type { Config } from "../config/index.ts";
import type { Clock, IdGenerator, Logger } from "../core/index.ts";
import type { Database } from "../storage/index.ts";

/** What app.ts builds once and hands to every module: storage, blobs, time, ids, config, logs. */
export interface PlatformDeps {
  database: Database;
  artifacts: ArtifactStore;
  clock: Clock;
  ids: IdGenerator;
  config: Config;
  logger: Logger;
}
