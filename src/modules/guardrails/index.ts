// Guardrails: what holds a team's use of the platform to account. The audit log: every
// mutating request (who, team, what, when, from where, outcome, request id), append-only, committed
// before the answer; run-tracking writes, the hot path, are summarised unless configured otherwise.
// Costs, budgets and policies: what work cost, team budgets that act at thresholds, and versioned
// platform and team policies checked at admission. Below compute, deployments and the registry:
// they call its checks through hooks app.ts connects, and it imports none of them.
import type { Clock, IdGenerator, Logger, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { AuditService, type AuditOptions } from "./audit-service.ts";
import { AuditStore } from "./audit-store.ts";
import { auditRoutes } from "./routes.ts";

export { AuditService, type AuditOptions } from "./audit-service.ts";
export type { AuditEvent, AuditSink } from "./audit-record.ts";
export type { AuditFilter, AuditOutcome } from "./audit-store.ts";
export { AuditRecordView, AuditList, AuditQuery, AuditFilterQuery, type AuditRecord } from "./schema.ts";
export { Ledger, monthStart, gpuMatchesType, formatBytes, type EffectiveQuota, type ServedVersion, type MachineGpu } from "./ledger.ts";
export { QuotaSettings, QuotaLine, QuotaHolder, TeamQuotaView, TeamQuotaList, QUOTA_RESOURCES, parseBytes, type QuotaSettingsInput, type QuotaResource } from "./quotas-schema.ts";
export type { GpuHours } from "./quotas-store.ts";
export { createQuotaModule, type QuotaModuleDeps } from "./quotas.ts";
export { createBudgetsModule, type BudgetsModule, type BudgetsModuleDeps, type BudgetSettings, type DeploymentAdmission, type AliasMove } from "./budgets-module.ts";
export type { JobAdmission, GatePolicyParser } from "./policies.ts";
export type { ServingSample, Pricing } from "./costs.ts";
export type { StopTeamWork } from "./budgets.ts";
export { CostReport, CostsQuery } from "./costs-schema.ts";
export { BudgetView, BudgetList, PutBudgetBody, BUDGET_ACTIONS, DEFAULT_THRESHOLDS } from "./budgets-schema.ts";
export { PolicyDocument, PolicyView, EffectivePolicyView, POLICY_RULES } from "./policies-schema.ts";

export interface AuditModuleDeps {
  database: Database;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  options: AuditOptions;
}

/** Builds the audit log: the service `http/` records into (its AuditSink) and the read routes. */
export function createAuditModule(deps: AuditModuleDeps): { service: AuditService; routes: RouteDefinition[] } {
  const service = new AuditService({ store: new AuditStore(deps.database), clock: deps.clock, ids: deps.ids, logger: deps.logger.child({ module: "audit" }), ...deps.options });
  return { service, routes: auditRoutes(service, deps.clock) };
}
