import type { Kysely } from "kysely";
import type { Clock, Logger, Principal } from "../../core/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { Tables } from "../../storage/index.ts";
import type { ChangeEvent, Topic } from "./schema.ts";
import { SOURCES, type Change, type ChangeSource } from "./sources.ts";

/** Who listens to the feed: a stream, with the principal it acts for (updated when it is checked again). */
export interface Subscriber {
  principal: Principal;
  readonly topics: ReadonlySet<Topic>;
  /** A change this subscriber may see; `id` is the poll's cursor (see `ChangeFeed`). */
  send(event: ChangeEvent, id: string): void;
  /** More changed than one poll reads: the subscriber should reload what it shows of `topic`. */
  reset(topic: Topic, id: string): void;
}

export interface FeedOptions {
  db: Kysely<Tables>;
  clock: Clock;
  logger: Logger;
  /** Time between polls. */
  tickMs: number;
  /** Most rows one topic's poll (or a resume) reads; beyond it, subscribers are told to reload. */
  limit: number;
  /** Oldest cursor a resume replays from; an older one gets a reset. */
  maxResumeMs: number;
  sources?: Readonly<Record<Topic, ChangeSource>>;
}

interface TopicState {
  /** When the first subscriber of this topic came: older changes found by the first poll are not news. */
  startedAt: number;
  /** Start of the last poll that succeeded: the next one reads from there, less the source's look-back. */
  lastPoll: number;
  primed: boolean;
  /** What was delivered within the look-back window, so that a change is told once. */
  seen: Map<string, { signature: string; at: number }>;
}

/** Whether `principal` may hear of a change: the teams the topic's list endpoint shows it, and a workspace's own users (and its team's admins). */
export function mayHear(principal: Principal, change: Change): boolean {
  const teams = visibleTeams(principal, change.action);
  if (teams !== undefined && !teams.includes(change.event.team)) return false;
  if (change.users && !principal.platformAdmin && !change.users.includes(principal.name) && principal.teams[change.event.team] !== "admin") return false;
  return true;
}

/**
 * The process's one reading of the database for every stream: each tick, one query per topic that
 * someone follows reads what changed since the previous tick (less a look-back for late commits),
 * and each change is handed to the subscribers that may see it. Nothing is kept but a window of
 * what was delivered: a restarted process, or another replica, reads the same database and finds
 * the same changes. The cursor a subscriber gets is the time the poll started, so that a resume
 * from it (`replay`) finds everything a later poll would have.
 */
export class ChangeFeed {
  private readonly subscribers = new Set<Subscriber>();
  private readonly states = new Map<Topic, TopicState>();
  private readonly sources: Readonly<Record<Topic, ChangeSource>>;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly options: FeedOptions) {
    this.sources = options.sources ?? SOURCES;
  }

  /** Adds a subscriber (starting the polls of topics nobody followed yet); returns its removal. */
  subscribe(subscriber: Subscriber): () => void {
    const now = this.options.clock.now();
    for (const topic of subscriber.topics) {
      if (!this.states.has(topic)) this.states.set(topic, { startedAt: now, lastPoll: now, primed: false, seen: new Map() });
    }
    this.subscribers.add(subscriber);
    this.schedule();
    return () => {
      if (!this.subscribers.delete(subscriber)) return;
      for (const topic of subscriber.topics) if (![...this.subscribers].some((s) => s.topics.has(topic))) this.states.delete(topic);
      if (this.subscribers.size === 0) this.unschedule();
    };
  }

  /** How many subscribers listen now. */
  get size(): number {
    return this.subscribers.size;
  }

  /**
   * The changes of `topics` after cursor `since` (a time a poll started), as a reconnecting
   * subscriber missed them; "reset" when the cursor is too old or too much changed (reload instead).
   */
  async replay(topics: Iterable<Topic>, since: number): Promise<Change[] | "reset"> {
    if (since < this.options.clock.now() - this.options.maxResumeMs) return "reset";
    const found: Change[] = [];
    for (const topic of topics) {
      const source = this.sources[topic];
      const rows = await source.changedSince(this.options.db, since - source.lookbackMs, this.options.limit);
      if (rows.length >= this.options.limit) return "reset";
      found.push(...rows);
    }
    return found.sort((a, b) => a.event.at - b.event.at);
  }

  /** One poll of every followed topic (the timer calls it; tests may too). */
  async poll(): Promise<void> {
    const now = this.options.clock.now();
    const id = String(now);
    for (const [topic, state] of [...this.states]) {
      const source = this.sources[topic];
      const since = state.lastPoll - source.lookbackMs;
      let rows: Change[];
      try {
        rows = await source.changedSince(this.options.db, since, this.options.limit);
      } catch (error) {
        // The next poll reads from the same point: nothing is lost, only late.
        this.options.logger.warn({ err: error, topic }, "change feed: reading changes failed; trying again on the next tick");
        continue;
      }
      // Unfollowed (or followed anew) while the query ran: its new state polls next time.
      if (this.states.get(topic) !== state) continue;
      const fresh: Change[] = [];
      for (const row of rows) {
        if (state.seen.get(row.key)?.signature === row.signature) continue;
        state.seen.set(row.key, { signature: row.signature, at: row.event.at });
        if (state.primed || row.event.at >= state.startedAt) fresh.push(row);
      }
      for (const [key, entry] of state.seen) if (entry.at <= since) state.seen.delete(key);
      state.primed = true;
      state.lastPoll = now;
      const listeners = [...this.subscribers].filter((s) => s.topics.has(topic));
      if (rows.length >= this.options.limit) {
        for (const s of listeners) s.reset(topic, id);
        continue;
      }
      fresh.sort((a, b) => a.event.at - b.event.at);
      for (const s of listeners) for (const row of fresh) if (mayHear(s.principal, row)) s.send(row.event, id);
    }
  }

  /** Stops polling and forgets every subscriber (their streams are ended by their owner). */
  async stop(): Promise<void> {
    this.subscribers.clear();
    this.states.clear();
    this.unschedule();
    await this.polling;
  }

  private schedule(): void {
    if (this.timer || this.subscribers.size === 0) return;
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch((error: unknown) => this.options.logger.warn({ err: error }, "change feed: a poll failed"))
        .finally(() => {
          this.polling = undefined;
          this.timer = undefined;
          this.schedule();
        });
    }, this.options.tickMs);
    this.timer.unref();
  }

  private unschedule(): void {
    if (this.timer && !this.polling) clearTimeout(this.timer);
    if (!this.polling) this.timer = undefined;
  }
}
