import { PassThrough } from "node:stream";
import { PlatformError, StreamResponse, invalidInput, isPlatformError, type Clock, type Logger, type Principal } from "../../core/index.ts";
import { mayHear, type ChangeFeed, type Subscriber } from "./feed.ts";
import { TOPICS, type ChangeEvent, type Topic } from "./schema.ts";

/** A request's credentials as they came, to check again while its stream lasts. */
export interface StreamCredentials {
  authorization: string | undefined;
  cookie: string | undefined;
}

export interface StreamOptions {
  /** Most streams one principal (a user, a service account, a job) holds open at once. */
  maxPerPrincipal: number;
  /** Time between heartbeat comments (proxies close connections that stay silent). */
  heartbeatMs: number;
  /** Time between checks that the stream's token or session still holds. */
  recheckMs: number;
  /** Bytes a slow client may leave unread before its stream is ended (it resumes with Last-Event-ID). */
  maxBufferedBytes: number;
  /** Authenticates the credentials again (undefined when authentication is off). */
  authenticate?: ((credentials: StreamCredentials) => Promise<Principal>) | undefined;
  logger: Logger;
  clock: Clock;
}

export interface OpenRequest {
  principal: Principal;
  topics: string;
  /** The Last-Event-ID header, or the `lastEventId` query parameter. */
  lastEventId: string | undefined;
  credentials: StreamCredentials;
  signal: AbortSignal;
}

/** Parses `jobs,runs` into topics, refusing unknown ones with the list of known ones. */
export function parseTopics(value: string): Set<Topic> {
  const topics = new Set<Topic>();
  for (const word of value.split(",").map((w) => w.trim()).filter(Boolean)) {
    if (!(TOPICS as readonly string[]).includes(word)) throw invalidInput(`unknown topic '${word.slice(0, 40)}'; topics are ${TOPICS.join(", ")} (e.g. ?topics=jobs,runs)`);
    topics.add(word as Topic);
  }
  if (topics.size === 0) throw invalidInput(`name at least one topic: ${TOPICS.join(", ")} (e.g. ?topics=jobs,runs)`);
  return topics;
}

/** The cursor in an event id (`<ms>`), or undefined for anything else. */
export function parseCursor(value: string | undefined): number | undefined {
  if (!value || !/^\d{1,15}$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

const frame = (event: ChangeEvent | Record<string, unknown>, id?: string, name?: string): string =>
  `${id !== undefined ? `id: ${id}\n` : ""}${name ? `event: ${name}\n` : ""}data: ${JSON.stringify(event)}\n\n`;

/**
 * The open event streams of this process: each is a subscriber of the one feed, bounded per
 * principal, kept alive by heartbeats, and ended when its credentials stop holding, when its
 * client leaves, or when the server stops.
 */
export class EventStreams {
  private readonly perPrincipal = new Map<string, number>();
  private readonly open = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly feed: ChangeFeed,
    private readonly options: StreamOptions,
  ) {}

  /** How many streams are open now. */
  get count(): number {
    return this.open.size;
  }

  /** Accepts streams again (a replica elected once more). */
  start(): void {
    this.closed = false;
  }

  /** Ends every stream and refuses new ones until `start` (the server is stopping, or this replica no longer leads). */
  async stop(): Promise<void> {
    this.closed = true;
    for (const end of [...this.open]) end();
    await this.feed.stop();
  }

  async openStream(request: OpenRequest): Promise<StreamResponse> {
    if (this.closed) throw new PlatformError("UNAVAILABLE", "this server is stopping or no longer leads; reconnect in a moment (an EventSource does so by itself)");
    const topics = parseTopics(request.topics);
    const owner = request.principal.userId ?? request.principal.name;
    const held = this.perPrincipal.get(owner) ?? 0;
    if (held >= this.options.maxPerPrincipal) {
      throw new PlatformError(
        "QUOTA_EXCEEDED",
        `'${request.principal.name}' already has ${held} event streams open, the most one user may hold; close one (each browser tab holds one for all its topics), or follow several topics on one stream (?topics=jobs,runs)`,
        { limit: this.options.maxPerPrincipal },
      );
    }
    this.perPrincipal.set(owner, held + 1);

    const stream = new PassThrough();
    const { logger } = this.options;
    let ended = false;
    let replaying: string[] | undefined = [];
    const write = (text: string) => {
      if (ended) return;
      if (replaying) return void replaying.push(text);
      stream.write(text);
      // A client that reads nothing fills memory: it is let go, and resumes from its last event.
      if (stream.writableLength > this.options.maxBufferedBytes) end();
    };
    const subscriber: Subscriber = {
      principal: request.principal,
      topics,
      send: (event, id) => write(frame(event, id)),
      reset: (topic, id) => write(frame({ topic }, id, "reset")),
    };
    const unsubscribe = this.feed.subscribe(subscriber);
    const heartbeat = setInterval(() => write(`: heartbeat\n\n`), this.options.heartbeatMs);
    const recheck = this.options.authenticate ? setInterval(() => void check(), this.options.recheckMs) : undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      if (recheck) clearInterval(recheck);
      unsubscribe();
      this.open.delete(end);
      const left = (this.perPrincipal.get(owner) ?? 1) - 1;
      if (left > 0) this.perPrincipal.set(owner, left);
      else this.perPrincipal.delete(owner);
      stream.end();
    };
    const check = async () => {
      try {
        // Roles change too: what the stream shows follows the principal as it is now.
        subscriber.principal = await this.options.authenticate!(request.credentials);
      } catch (error) {
        if (!isPlatformError(error) || (error.code !== "UNAUTHENTICATED" && error.code !== "FORBIDDEN")) {
          logger.warn({ err: error }, "event stream: checking its credentials failed; trying again later");
          return;
        }
        if (ended) return;
        stream.write(frame({ code: error.code, message: error.message }, undefined, "end"));
        end();
      }
    };
    this.open.add(end);
    request.signal.addEventListener("abort", end, { once: true });
    stream.on("close", end);
    stream.on("error", end);

    // The client reconnects after 3 s when the connection drops; the comment makes the answer start at once.
    stream.write(`retry: 3000\n: following ${[...topics].join(",")}\n\n`);
    const cursor = parseCursor(request.lastEventId);
    if (cursor !== undefined) {
      try {
        // What a later poll finds is newer than this: the replay's events carry its start as their cursor.
        const id = String(this.options.clock.now());
        const missed = await this.feed.replay(topics, cursor);
        if (missed === "reset") for (const topic of topics) stream.write(frame({ topic }, id, "reset"));
        else for (const change of missed) if (mayHear(subscriber.principal, change)) stream.write(frame(change.event, id));
      } catch (error) {
        end();
        throw error;
      }
    }
    // What the feed delivered during the replay follows it.
    const queued = replaying;
    replaying = undefined;
    for (const text of queued) write(text);
    return new StreamResponse(stream, "text/event-stream; charset=utf-8", { "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" });
  }
}
