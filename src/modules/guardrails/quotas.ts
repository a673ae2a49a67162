import type { Kysely } from "kysely";
import type { Clock, RouteDefinition } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { Ledger } from "./ledger.ts";
import type { QuotaSettings } from "./quotas-schema.ts";
import { quotaRoutes } from "./quotas-routes.ts";

export interface QuotaModuleDeps {
  db: Kysely<Tables>;
  clock: Clock;
  /** `guardrails.defaultQuota`: the limits of a team that sets none of its own (unlimited when unset). */
  defaults?: QuotaSettings;
}

/**
 * Builds the ledger (what compute's scheduler, deployments, serving's autoscaler and uploads
 * draw from) and the quota routes.
 */
export function createQuotaModule(deps: QuotaModuleDeps): { ledger: Ledger; routes: RouteDefinition[] } {
  const ledger = new Ledger(deps);
  return { ledger, routes: quotaRoutes(ledger) };
}
