// Core: errors, ids, clock, logger and small shared helpers. Depends on nothing else in Paved,
// so every other folder may import it.
export * from "./errors.ts";
export * from "./ids.ts";
export * from "./clock.ts";
export * from "./logger.ts";
export * from "./validate.ts";
export * from "./route.ts";
export * from "./page-token.ts";
export * from "./like-pattern.ts";
export * from "./statistics.ts";
export * from "./column-drift.ts";
export * from "./reconcile-loop.ts";
export * from "./module-worker.ts";
export * from "./process-identity.ts";
export * from "./time-bound.ts";
export * from "./cron.ts";
export * from "./push-events.ts";
