// Triggers (issue 10, item 4): what starts a pipeline by itself — a cron schedule in a time zone, a
// new version of a dataset, a git push (a GitHub or GitLab webhook, verified by its signature,
// fetching the pushed commit from an allow-listed remote). Each firing is recorded before its run
// starts, under a key unique per trigger, so replays and restarts never run anything twice.
import type { RouteDefinition } from "../../core/index.ts";
import { TriggerController } from "./controller.ts";
import { triggerRoutes } from "./routes.ts";
import { TriggerService, type TriggerServiceDeps } from "./service.ts";

export { TriggerService, type TriggerServiceDeps } from "./service.ts";
export { checkRemote, checkoutCommit } from "./git-checkout.ts";
export { CreateTriggerBody, TriggerView, FiringView, DeliveryAnswer } from "./schema.ts";

export function createTriggersModule(deps: TriggerServiceDeps & { intervalMs: number }): { service: TriggerService; controller: TriggerController; routes: RouteDefinition[] } {
  const service = new TriggerService(deps);
  const controller = new TriggerController(service, { intervalMs: deps.intervalMs, logger: deps.logger });
  return { service, controller, routes: triggerRoutes(service) };
}
