import type { ArtifactStore } from "../artifacts/index.ts";
import type { Config } from "../config/index.ts";
import type { Clock, IdGenerator, Logger } from "../core/index.ts";
import type { Database } from "../storage/index.ts";

/** Refuses (QUOTA_EXCEEDED) storing `bytes` more for `team`; `what` names the upload in the message. */
export type StorageQuota = (team: string, bytes: number, what: string) => Promise<void>;

/** What app.ts builds once and hands to every module: storage, blobs, time, ids, config, logs. */
export interface PlatformDeps {
  database: Database;
  artifacts: ArtifactStore;
  clock: Clock;
  ids: IdGenerator;
  config: Config;
  /** Refuses (QUOTA_EXCEEDED) storing `bytes` more for a team past its artifact storage quota (guardrails' ledger); unset: unlimited. */
  storageQuota?: StorageQuota;
  logger: Logger;
}
