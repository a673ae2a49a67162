// Events: live change notifications over server-sent events (GET /api/v1/events) for the web UI and
// any client that would otherwise poll. Derived from the database, not from in-memory hooks, so that
// every replica and a restarted process tell the same story: one shared poll per topic per tick,
// filtered per stream by the teams its caller may read, every stream bounded and re-authenticated.
import type { Clock, Logger, Principal, RouteDefinition } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { ChangeFeed } from "./feed.ts";
import { eventRoutes } from "./routes.ts";
import { EventStreams, type StreamCredentials } from "./streams.ts";

export { ChangeEvent, EventsQuery, TOPICS, EVENT_KINDS, type Topic, type EventKind } from "./schema.ts";
export { ChangeFeed, mayHear, type Subscriber } from "./feed.ts";
export { EventStreams, parseTopics, parseCursor, type StreamCredentials } from "./streams.ts";

/** How the feed and its streams are paced and bounded; the defaults suit a browser UI. */
export interface EventTiming {
  /** Time between polls of the database. */
  tickMs: number;
  heartbeatMs: number;
  recheckMs: number;
  maxPerPrincipal: number;
}

export const DEFAULT_EVENT_TIMING: EventTiming = { tickMs: 1_000, heartbeatMs: 15_000, recheckMs: 10_000, maxPerPrincipal: 8 };

export interface EventsModuleDeps {
  database: Database;
  clock: Clock;
  logger: Logger;
  /** Checks a stream's credentials again (the server's authenticator); undefined with authentication off. */
  authenticate?: ((credentials: StreamCredentials) => Promise<Principal>) | undefined;
  timing?: Partial<EventTiming>;
}

export interface EventsModule {
  routes: RouteDefinition[];
  streams: EventStreams;
  /** A controller: `stop` ends every stream (the server is stopping, or this replica no longer leads). */
  controller: { start(): void; stop(): Promise<void> };
}

export function createEventsModule(deps: EventsModuleDeps): EventsModule {
  const timing = { ...DEFAULT_EVENT_TIMING, ...deps.timing };
  const logger = deps.logger.child({ module: "events" });
  const feed = new ChangeFeed({ db: deps.database.db, clock: deps.clock, logger, tickMs: timing.tickMs, limit: 2_000, maxResumeMs: 60 * 60 * 1000 });
  const streams = new EventStreams(feed, {
    maxPerPrincipal: timing.maxPerPrincipal,
    heartbeatMs: timing.heartbeatMs,
    recheckMs: timing.recheckMs,
    maxBufferedBytes: 1024 * 1024,
    authenticate: deps.authenticate,
    logger,
    clock: deps.clock,
  });
  return { routes: eventRoutes(streams), streams, controller: { start: () => streams.start(), stop: () => streams.stop() } };
}
