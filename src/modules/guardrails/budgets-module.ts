import { ReconcileLoop, type Clock, type IdGenerator, type Logger, type Principal, type RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { budgetRoutes } from "./budgets-routes.ts";
import { BudgetStore } from "./budgets-store.ts";
import { BudgetService, type StopTeamWork } from "./budgets.ts";
import { costRoutes } from "./costs-routes.ts";
import { CostStore } from "./costs-store.ts";
import { CostService, ServingMeter, type Pricing, type ServingSample } from "./costs.ts";
import { policyRoutes } from "./policies-routes.ts";
import { PolicyStore } from "./policies-store.ts";
import { PRODUCTION, PolicyService, type GatePolicyParser, type JobAdmission } from "./policies.ts";

/** Settings of budgets (configuration `guardrails.budgets`). */
export interface BudgetSettings {
  intervalSeconds: number;
  webhookHosts: readonly string[];
  webhookTimeoutSeconds: number;
  webhookRetrySeconds: number;
  webhookMaxAttempts: number;
}

export interface BudgetsModuleDeps {
  database: Database;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The catalog's price list. */
  pricing: Pricing;
  /** The catalog's profile names (a policy's allowedProfiles must name them). */
  knownProfiles: () => string[];
  settings: BudgetSettings;
  /** Evaluation's gate-policy parser, for requiredGatePolicy. */
  parseGatePolicy?: GatePolicyParser;
  /** Cancels a team's jobs and pauses its rollouts (a budget's stop threshold). */
  stopTeamWork?: StopTeamWork;
  /** What serving has loaded now, metered into deployments' costs at every pass. */
  servingUsage?: () => Promise<readonly ServingSample[]>;
  fetch?: typeof fetch;
}

/** A deployment as admission sees it: a new one, or a production promotion forced past its analysis. */
export interface DeploymentAdmission {
  action: "create" | "force-promote";
  model: string;
  environment: string;
  team: string;
}

/** A move of a model's alias, as the registry's alias guards see it. */
export interface AliasMove {
  model: { name: string; team_id: string };
  alias: string;
  /** Who asks; absent for the platform's own moves (a rollout's promotion), which were admitted when created. */
  actor?: Principal | undefined;
  force?: boolean | undefined;
}

export interface BudgetsModule {
  costs: CostService;
  budgets: BudgetService;
  policies: PolicyService;
  routes: RouteDefinition[];
  /** The budget controller: meters serving, checks every budget, sends notifications. */
  controller: { start(): void; stop(): Promise<void>; kick(): void };
  /** Job admission (compute's submit and `paved policy check`): the policies in force, then the team's budget. */
  admitJob(job: JobAdmission, principal: Principal): Promise<void>;
  /** Deployment admission: who may deploy to production, the team's budget, and whether a forced promotion may be. */
  admitDeployment(deployment: DeploymentAdmission, principal: Principal): Promise<void>;
  /** The registry's alias guard: who may move `production`, and whether its gate may be forced. */
  aliasGuard(move: AliasMove): Promise<void>;
}

/**
 * Costs, budgets and policies (issue 8, items 5 and 6): the cost report, team budgets with their
 * controller, versioned policies, and the admission checks compute, deployments and the registry
 * call through hooks app.ts connects (guardrails imports none of them).
 */
export function createBudgetsModule(deps: BudgetsModuleDeps): BudgetsModule {
  const logger = deps.logger.child({ module: "budgets" });
  const costStore = new CostStore(deps.database.db);
  const costs = new CostService({ store: costStore, pricing: deps.pricing, clock: deps.clock });
  const policies = new PolicyService({ store: new PolicyStore(deps.database.db), clock: deps.clock, logger, knownProfiles: deps.knownProfiles, ...(deps.parseGatePolicy ? { parseGatePolicy: deps.parseGatePolicy } : {}) });
  const { settings } = deps;
  const budgets = new BudgetService({
    store: new BudgetStore(deps.database.db),
    costs,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    webhooks: { hosts: settings.webhookHosts, timeoutMs: settings.webhookTimeoutSeconds * 1000, retryMs: settings.webhookRetrySeconds * 1000, maxAttempts: settings.webhookMaxAttempts },
    ...(deps.stopTeamWork ? { stopTeamWork: deps.stopTeamWork } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    // The loop is made below; a kick comes only once requests are served.
    kick: () => loop.kick(),
  });
  const meter = new ServingMeter({ store: costStore, clock: deps.clock, logger });
  const loop = new ReconcileLoop(
    async () => {
      if (deps.servingUsage) {
        try {
          await meter.record(await deps.servingUsage());
        } catch (error) {
          // Metering failing (the database busy, serving closing) must not hold budgets up.
          logger.error({ err: error }, "metering serving failed");
        }
      }
      await budgets.pass();
    },
    { intervalMs: settings.intervalSeconds * 1000, onError: (error) => logger.error({ err: error }, "budget pass failed") },
  );
  return {
    costs,
    budgets,
    policies,
    routes: [...costRoutes(costs, budgets, policies), ...budgetRoutes(budgets, policies), ...policyRoutes(policies)],
    controller: { start: () => loop.start(), stop: () => loop.stop(), kick: () => loop.kick() },
    async admitJob(job) {
      await policies.assertJob(job);
      await budgets.assertWithinBudget(job.team, `job '${job.name}'`);
    },
    async admitDeployment(deployment, principal) {
      if (deployment.environment !== PRODUCTION) {
        if (deployment.action === "create") await budgets.assertWithinBudget(deployment.team, `a deployment of '${deployment.model}'`);
        return;
      }
      if (deployment.action === "force-promote") return policies.assertGateOverride(deployment.team, `the production rollout of '${deployment.model}'`);
      await policies.assertProductionMover(principal, deployment.team, deployment.model);
      await budgets.assertWithinBudget(deployment.team, `a deployment of '${deployment.model}'`);
    },
    async aliasGuard(move) {
      if (move.alias !== PRODUCTION || !move.actor) return;
      await policies.assertProductionMover(move.actor, move.model.team_id, move.model.name);
      if (move.force) await policies.assertGateOverride(move.model.team_id, `'${PRODUCTION}' of '${move.model.name}'`);
    },
  };
}
