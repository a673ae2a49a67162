import { useCallback, useEffect, useRef, useState } from "react";
import { useLive, type ChangeEvent, type LiveStatus, type Topic } from "../live.ts";

export interface ApiState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again (after a change, or on a live update) keeping the current data on screen meanwhile. */
  reload: () => void;
}

/**
 * Reload on live updates: the topics to follow and, optionally, which of their changes matter to
 * this load (every change of the topics, by default). A reset of a topic always reloads.
 * @example useApi(load, [id], { live: { topics: ["jobs"], match: (e) => e.id === id } })
 */
export interface LiveOption {
  topics: readonly Topic[];
  match?: (event: ChangeEvent) => boolean;
}

/** Changes arriving together (a job's QUEUED, STARTING, RUNNING) cause one load. */
const LIVE_DEBOUNCE_MS = 250;

/**
 * Loads `load()` when `deps` change; a newer load wins over an older one still in flight. With
 * `refreshMs`, loads again on that period while the tab is visible (live pages). With `live`, loads
 * again when a matching change arrives over the tab's event stream; `refreshMs` then only polls
 * while that stream is down.
 */
export function useApi<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], opts: { refreshMs?: number; live?: LiveOption } = {}): ApiState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const matchRef = useRef(opts.live?.match);
  matchRef.current = opts.live?.match;
  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    loadRef.current(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (controller.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);
  const pending = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(pending.current), []);
  const liveStatus: LiveStatus = useLive(opts.live?.topics ?? [], (message) => {
    if (message.type === "change" && matchRef.current && !matchRef.current(message.event)) return;
    if (pending.current !== undefined) return;
    pending.current = window.setTimeout(() => {
      pending.current = undefined;
      setTick((t) => t + 1);
    }, LIVE_DEBOUNCE_MS);
  });
  const polling = opts.refreshMs && !(opts.live && liveStatus === "open") ? opts.refreshMs : undefined;
  useEffect(() => {
    if (!polling) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") setTick((t) => t + 1);
    }, polling);
    return () => window.clearInterval(timer);
  }, [polling]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}
