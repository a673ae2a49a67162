// Live updates: one EventSource per tab on GET /api/v1/events, shared by every component that
// listens, following the union of their topics. It reconnects by itself (resuming after the last
// event it got), and tells listeners when they should reload everything (a reset, or a reconnect
// after a gap). See docs/live-updates.md.
import { useEffect, useRef, useState } from "react";
import type { ChangeEvent, Topic } from "../../src/modules/events/schema.ts";
import { loadSession, toSignIn } from "./api.ts";

export type { ChangeEvent, Topic };

/** What a listener hears: a change, or "reload `topic`": more changed than the stream can tell (or the stream was down a while). */
export type LiveMessage = { type: "change"; event: ChangeEvent } | { type: "reset"; topic: Topic };

interface Listener {
  topics: readonly Topic[];
  onMessage(message: LiveMessage): void;
}

export type LiveStatus = "connecting" | "open" | "closed";

const listeners = new Set<Listener>();
const statusListeners = new Set<(status: LiveStatus) => void>();
let source: EventSource | undefined;
let sourceTopics = "";
let lastEventId: string | undefined;
let status: LiveStatus = "closed";
let retryTimer: number | undefined;
let retryMs = 1_000;
let reconfigure: number | undefined;

function setStatus(next: LiveStatus): void {
  if (status === next) return;
  status = next;
  for (const l of statusListeners) l(next);
}

function wantedTopics(): string {
  const all = new Set<Topic>();
  for (const l of listeners) for (const t of l.topics) all.add(t);
  return [...all].sort().join(",");
}

function dispatch(message: LiveMessage): void {
  for (const l of [...listeners]) {
    const topic = message.type === "change" ? message.event.topic : message.topic;
    if (l.topics.includes(topic)) l.onMessage(message);
  }
}

function close(): void {
  // Nobody listens: whoever listens next loads afresh, so there is nothing to resume.
  if (listeners.size === 0) lastEventId = undefined;
  source?.close();
  source = undefined;
  sourceTopics = "";
  if (retryTimer !== undefined) window.clearTimeout(retryTimer);
  retryTimer = undefined;
  setStatus("closed");
}

/** Opens (or reopens, for other topics) the tab's stream, resuming after the last event it got. */
function connect(): void {
  const topics = wantedTopics();
  if (!topics) return close();
  if (source && sourceTopics === topics && source.readyState !== EventSource.CLOSED) return;
  source?.close();
  if (retryTimer !== undefined) window.clearTimeout(retryTimer);
  retryTimer = undefined;
  const query = new URLSearchParams({ topics });
  if (lastEventId) query.set("lastEventId", lastEventId);
  const es = new EventSource(`/api/v1/events?${query.toString()}`, { withCredentials: true });
  source = es;
  sourceTopics = topics;
  setStatus("connecting");
  es.onopen = () => {
    retryMs = 1_000;
    setStatus("open");
  };
  es.onmessage = (message: MessageEvent<string>) => {
    if (message.lastEventId) lastEventId = message.lastEventId;
    try {
      dispatch({ type: "change", event: JSON.parse(message.data) as ChangeEvent });
    } catch {
      // Not a change this page understands: ignored.
    }
  };
  es.addEventListener("reset", (message: MessageEvent<string>) => {
    if (message.lastEventId) lastEventId = message.lastEventId;
    try {
      dispatch({ type: "reset", topic: (JSON.parse(message.data) as { topic: Topic }).topic });
    } catch {
      // ignored, as above
    }
  });
  // The server ended the stream because the session ended: sign in again (the page is kept).
  es.addEventListener("end", () => {
    close();
    void loadSession().then((session) => (session ? scheduleRetry() : toSignIn()), scheduleRetry);
  });
  es.onerror = () => {
    if (source !== es) return;
    // The browser retries a dropped connection itself (resuming with Last-Event-ID); an answer it
    // will not retry (429, 401, a server restarting) closes the source: retried here, ever more slowly.
    if (es.readyState === EventSource.CLOSED) {
      setStatus("closed");
      scheduleRetry();
    } else setStatus("connecting");
  };
}

function scheduleRetry(): void {
  if (retryTimer !== undefined || listeners.size === 0) return;
  source?.close();
  source = undefined;
  sourceTopics = "";
  retryTimer = window.setTimeout(() => {
    retryTimer = undefined;
    connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, 30_000);
}

/** Changes of topics are gathered for a moment: a page that mounts several listeners opens one stream. */
function reconnectSoon(): void {
  if (reconfigure !== undefined) return;
  reconfigure = window.setTimeout(() => {
    reconfigure = undefined;
    connect();
  }, 50);
}

/** Listens to the tab's stream outside React; returns the function that stops listening. */
export function subscribeLive(topics: readonly Topic[], onMessage: (message: LiveMessage) => void): () => void {
  const listener: Listener = { topics, onMessage };
  listeners.add(listener);
  reconnectSoon();
  return () => {
    listeners.delete(listener);
    reconnectSoon();
  };
}

/**
 * Calls `onEvent` for every change of `topics` the signed-in user may see, and for a reset (reload
 * what you show of that topic), while the component is mounted.
 * @example useLive(["jobs"], (m) => { if (m.type === "reset" || m.event.id === jobId) reload(); });
 */
export function useLive(topics: readonly Topic[], onEvent: (message: LiveMessage) => void): LiveStatus {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = [...topics].sort().join(",");
  const [current, setCurrent] = useState<LiveStatus>(status);
  useEffect(() => {
    if (!key) return;
    statusListeners.add(setCurrent);
    const stop = subscribeLive(key.split(",") as Topic[], (m) => handler.current(m));
    setCurrent(status);
    return () => {
      statusListeners.delete(setCurrent);
      stop();
    };
  }, [key]);
  return current;
}

/** Whether the tab's stream is open now. */
export function liveStatus(): LiveStatus {
  return status;
}
