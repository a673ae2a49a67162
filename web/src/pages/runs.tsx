// The runs table (/experiments/<id> for one experiment, /runs for every experiment one may read):
// virtualized rows loaded page by page (the server's page tokens) as the user scrolls, search with
// MLflow's filter syntax and sorting done by the server, a column chooser for metrics, params and
// tags, and 2–20 runs picked for /compare. Filter, order, columns and the selection live in the URL.
// User data (names, params, tags) is rendered as text only.
import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { api, PlatformError } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { useLive } from "../live.ts";
import { VirtualTable, type VirtualColumn } from "../components/virtual-table.tsx";
import { Link, navigate, seg, useLocation, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { RunView } from "../../../src/client/types.ts";
import "./runs.css";

/** Runs per request: the first page, and the least a later one asks for. */
const PAGE = 200;
/** The most one request asks for when the user scrolls far ahead of what is loaded. */
const MAX_PAGE = 5000;
export const MIN_COMPARE = 2;
export const MAX_COMPARE = 20;
/** Columns shown when the URL names none: the first metrics and params of the experiment. */
const DEFAULT_METRICS = 4;
const DEFAULT_PARAMS = 3;

type Kind = "metrics" | "params" | "tags";
interface DataColumn {
  kind: Kind;
  key: string;
}

/** `metrics.loss,params.lr` ⇄ columns. Keys hold no commas (the tracking API refuses them). */
function parseColumns(text: string): DataColumn[] {
  const out: DataColumn[] = [];
  for (const part of text.split(",")) {
    const dot = part.indexOf(".");
    const kind = part.slice(0, dot);
    if (dot > 0 && (kind === "metrics" || kind === "params" || kind === "tags") && part.length > dot + 1) out.push({ kind, key: part.slice(dot + 1) });
  }
  return out;
}
const columnId = (c: DataColumn) => `${c.kind}.${c.key}`;

/** MLflow's order_by term for a column: backquoted when the key is not a plain identifier. */
function orderKey(c: DataColumn): string {
  return /^[A-Za-z_][\w.]*$/.test(c.key) ? `${c.kind}.${c.key}` : `${c.kind}.\`${c.key}\``;
}

/** A metric's value as people read it: four significant digits, the exact one in the tooltip. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
  return Number(value.toPrecision(4)).toString();
}

interface Pages {
  rows: RunView[];
  total: number | undefined;
  error: unknown;
  loading: boolean;
  done: boolean;
}

/**
 * Runs of a search, loaded a page at a time: `want(n)` asks for the first n rows (the table's
 * visible end), following the server's page tokens; a larger page when the user scrolled far ahead.
 */
function useRunPages(search: { experiment?: string | undefined; filter: string; orderBy: string }, reloadKey: number) {
  const [state, setState] = useState<Pages>({ rows: [], total: undefined, error: undefined, loading: true, done: false });
  const generation = useRef(0);
  const next = useRef<string | undefined>(undefined);
  const busy = useRef(false);
  const wanted = useRef(PAGE);
  const rows = useRef<RunView[]>([]);
  const controller = useRef<AbortController | undefined>(undefined);
  const key = JSON.stringify(search);

  const load = useCallback(
    async (gen: number, first: boolean) => {
      busy.current = true;
      const limit = first ? PAGE : Math.min(MAX_PAGE, Math.max(PAGE, wanted.current - rows.current.length + PAGE));
      setState((s) => ({ ...s, loading: true }));
      try {
        const page = await api.searchRunsPage(
          {
            ...(search.experiment ? { experiment: search.experiment } : {}),
            ...(search.filter ? { filter: search.filter } : {}),
            ...(search.orderBy ? { orderBy: search.orderBy } : {}),
            limit,
            ...(first ? { withTotal: true } : { pageToken: next.current! }),
          },
          controller.current?.signal,
        );
        if (gen !== generation.current) return;
        rows.current = first ? page.runs : rows.current.concat(page.runs);
        next.current = page.nextPageToken;
        setState((s) => ({ rows: rows.current, total: first ? page.total : s.total, error: undefined, loading: false, done: !page.nextPageToken }));
        busy.current = false;
        if (next.current && wanted.current > rows.current.length) void load(gen, false);
      } catch (error) {
        if (gen !== generation.current) return;
        busy.current = false;
        setState((s) => ({ ...s, error, loading: false }));
      }
    },
    // The search's text stands for the search: a new object with the same values is the same search.
    [key],
  );

  useEffect(() => {
    const gen = ++generation.current;
    controller.current?.abort();
    controller.current = new AbortController();
    rows.current = [];
    next.current = undefined;
    wanted.current = PAGE;
    setState({ rows: [], total: undefined, error: undefined, loading: true, done: false });
    void load(gen, true);
    return () => controller.current?.abort();
  }, [load, reloadKey]);

  /** Replaces loaded rows by id (a run that changed), keeping their places. */
  const patch = useCallback((changed: RunView[]) => {
    const byId = new Map(changed.map((r) => [r.id, r]));
    rows.current = rows.current.map((r) => byId.get(r.id) ?? r);
    setState((s) => ({ ...s, rows: rows.current }));
  }, []);
  const has = useCallback((id: string) => rows.current.some((r) => r.id === id), []);

  const want = useCallback(
    (end: number) => {
      wanted.current = Math.max(wanted.current, end + PAGE / 2);
      if (!busy.current && next.current && wanted.current > rows.current.length) void load(generation.current, false);
    },
    [load],
  );
  return { ...state, want, patch, has };
}

/** Most runs one live update reads again (the rest: "Refresh"). */
const LIVE_PATCH_MAX = 50;

/**
 * Live updates over the tab's event stream: a loaded run that started, ended or was deleted is read
 * again in place; runs the table has not loaded (new ones) are counted for the user to refresh,
 * rather than moving the rows under their eyes.
 */
function useLiveRuns(pages: { has: (id: string) => boolean; patch: (runs: RunView[]) => void }, resetKey: string) {
  const [unseen, setUnseen] = useState(0);
  const queue = useRef(new Set<string>());
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => {
    setUnseen(0);
    queue.current.clear();
  }, [resetKey]);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  useLive(["runs"], (message) => {
    if (message.type === "reset") return setUnseen((n) => n + 1);
    if (!pages.has(message.event.id)) return setUnseen((n) => n + 1);
    queue.current.add(message.event.id);
    if (timer.current !== undefined) return;
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      const ids = [...queue.current].slice(0, LIVE_PATCH_MAX);
      queue.current.clear();
      void Promise.all(ids.map((id) => api.getRun(id).catch(() => undefined))).then((runs) => pages.patch(runs.filter((r): r is RunView => r !== undefined)));
    }, 500);
  });
  return unseen;
}

export default function RunsPage({ params }: PageProps) {
  const experimentId = params.id;
  const { query } = useLocation();
  const filter = query.get("filter") ?? "";
  const orderBy = query.get("order") ?? "";
  const colsParam = query.get("cols");
  const selected = useMemo(() => (query.get("selected") ?? "").split(",").filter(Boolean), [query]);
  const [reloadKey, setReloadKey] = useState(0);
  const [draft, setDraft] = useState(filter);
  useEffect(() => setDraft(filter), [filter]);

  const pages = useRunPages({ experiment: experimentId, filter, orderBy }, reloadKey);
  // The rows first: the experiment's name and keys are asked for once the first page is in.
  const [firstIn, setFirstIn] = useState(false);
  const answered = pages.total !== undefined || pages.error !== undefined;
  useEffect(() => {
    if (answered) setFirstIn(true);
  }, [answered]);
  const experiments = useApi((signal) => (firstIn ? api.listExperimentSummaries(signal) : Promise.resolve(undefined)), [firstIn]);
  const experiment = experimentId ? experiments.data?.find((e) => e.id === experimentId) : undefined;
  const keys = useApi((signal) => (experimentId && firstIn ? api.experimentKeys(experimentId) : Promise.resolve(undefined)).then((k) => (signal.aborted ? undefined : k)), [experimentId, firstIn]);

  // Without an experiment, the keys come from the runs loaded so far (the first page, mostly).
  const available = useMemo(() => {
    if (keys.data) return keys.data;
    const found = { metrics: new Set<string>(), params: new Set<string>(), tags: new Set<string>() };
    for (const run of pages.rows.slice(0, 1000)) {
      for (const k of Object.keys(run.metrics)) found.metrics.add(k);
      for (const k of Object.keys(run.params)) found.params.add(k);
      for (const k of Object.keys(run.tags)) found.tags.add(k);
    }
    return { metrics: [...found.metrics].sort(), params: [...found.params].sort(), tags: [...found.tags].sort() };
  }, [keys.data, pages.rows]);

  const columns: DataColumn[] = useMemo(() => {
    if (colsParam !== null) return parseColumns(colsParam);
    return [...available.metrics.slice(0, DEFAULT_METRICS).map((key) => ({ kind: "metrics" as const, key })), ...available.params.slice(0, DEFAULT_PARAMS).map((key) => ({ kind: "params" as const, key }))];
  }, [colsParam, available]);

  const set = (changes: Record<string, string | undefined>) => navigate(withQuery(changes), { replace: true });
  const setColumns = (next: DataColumn[]) => set({ cols: next.length ? next.map(columnId).join(",") : "-" });
  const setSelected = (ids: string[]) => set({ selected: ids.join(",") || undefined });
  const toggle = (id: string) => setSelected(selected.includes(id) ? selected.filter((s) => s !== id) : [...selected, id]);

  // Clicking a header: ascending, then descending, then the default order (newest first).
  const sortState = (term: string): "ascending" | "descending" | "none" => {
    const [current, direction] = orderBy.split(" ");
    if (current !== term) return "none";
    return direction?.toUpperCase() === "DESC" ? "descending" : "ascending";
  };
  const sortBy = (term: string) => () => {
    const now = sortState(term);
    set({ order: now === "none" ? `${term} ASC` : now === "ascending" ? `${term} DESC` : undefined });
  };
  const sortable = (id: string, header: string, term: string) => ({ id, header, sort: sortState(term), onSort: sortBy(term), sortLabel: `Sort by ${header}` });

  const experimentNames = useMemo(() => new Map((experiments.data ?? []).map((e) => [e.id, e.name])), [experiments.data]);
  const selectedSet = useMemo(() => new Set(selected), [selected]);
  const tableColumns: VirtualColumn<RunView>[] = [
    {
      id: "select",
      header: <span className="sr-only">Select</span>,
      width: 44,
      className: "select",
      cell: (run) => <input type="checkbox" checked={selectedSet.has(run.id)} onChange={() => toggle(run.id)} aria-label={`Select run ${run.name || run.id}`} />,
    },
    {
      ...sortable("name", "Run", "attributes.run_name"),
      width: 220,
      cell: (run) => <Link to={`/runs/${seg(run.id)}`}>{run.name || run.id.slice(0, 12)}</Link>,
      title: (run) => run.name,
    },
    ...(experimentId
      ? []
      : [
          {
            id: "experiment",
            header: "Experiment",
            width: 160,
            cell: (run: RunView) => <Link to={`/experiments/${seg(run.experimentId)}`}>{experimentNames.get(run.experimentId) ?? run.experimentId}</Link>,
            title: (run: RunView) => experimentNames.get(run.experimentId),
          },
        ]),
    { ...sortable("status", "Status", "attributes.status"), width: 110, cell: (run) => <StateBadge state={run.status} /> },
    { ...sortable("start", "Started", "attributes.start_time"), width: 180, cell: (run) => <Time ms={run.startTime} /> },
    { ...sortable("user", "User", "attributes.user_id"), width: 110, cell: (run) => run.user, title: (run) => run.user },
    ...columns.map<VirtualColumn<RunView>>((c) => {
      const label = `${c.kind === "metrics" ? "" : c.kind === "params" ? "param " : "tag "}${c.key}`;
      return {
        ...sortable(columnId(c), label, orderKey(c)),
        width: c.kind === "metrics" ? 120 : 140,
        className: c.kind === "metrics" ? `num ${c.kind}` : c.kind,
        cell: (run) => (c.kind === "metrics" ? formatValue(run.metrics[c.key]?.value) : ((c.kind === "params" ? run.params : run.tags)[c.key] ?? "—")),
        title: (run) => (c.kind === "metrics" ? (run.metrics[c.key] ? `${run.metrics[c.key]!.value ?? "NaN"} at step ${run.metrics[c.key]!.step}` : undefined) : (c.kind === "params" ? run.params : run.tags)[c.key]),
      };
    }),
  ];

  const onSearch = (event: FormEvent) => {
    event.preventDefault();
    const text = draft.trim();
    if (text === filter) setReloadKey((k) => k + 1);
    else set({ filter: text || undefined });
  };
  const badFilter = pages.error instanceof PlatformError && pages.error.code === "INVALID_INPUT" ? pages.error : undefined;
  const compareOk = selected.length >= MIN_COMPARE && selected.length <= MAX_COMPARE;
  const title = experimentId ? (experiment?.name ?? (experiments.data ? `experiment ${experimentId}` : "Runs")) : "All runs";
  const resetKey = `${filter}\n${orderBy}\n${reloadKey}`;
  const { want } = pages;
  const unseen = useLiveRuns(pages, resetKey);

  return (
    <div className="runs-page">
      <PageHeader title={title} help="tracking">
        <button type="button" onClick={() => setReloadKey((k) => k + 1)}>
          Refresh
        </button>
      </PageHeader>
      {experimentId ? (
        <p className="runs-crumbs">
          <Link to="/experiments">Experiments</Link> / <span>{title}</span>
          {experiment ? <span className="hint"> · team {experiment.team} · id {experiment.id}</span> : null}
        </p>
      ) : null}
      {experiments.error ? <ErrorNotice error={experiments.error} title="Experiments" /> : null}
      {keys.error ? <ErrorNotice error={keys.error} /> : null}
      <div className="runs-toolbar">
        <form className="runs-filter" role="search" onSubmit={onSearch}>
          <label htmlFor="runs-filter-input">Filter</label>
          <input
            id="runs-filter-input"
            type="search"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            placeholder="metrics.loss < 0.5 and params.lr = '0.01'"
            aria-describedby="runs-filter-help"
            aria-invalid={badFilter ? true : undefined}
            spellCheck={false}
            autoComplete="off"
          />
          <button type="submit">Search</button>
          {filter ? (
            <button type="button" onClick={() => set({ filter: undefined })}>
              Clear
            </button>
          ) : null}
          <span id="runs-filter-help" className={badFilter ? "filter-error" : "hint"} role={badFilter ? "alert" : undefined}>
            {badFilter ? badFilter.message : "MLflow filter syntax: metrics.<key>, params.<key>, tags.<key>, attributes.status …"}
          </span>
        </form>
        <div className="runs-actions">
          <ColumnChooser available={available} columns={columns} onChange={setColumns} />
          <span className="hint" aria-live="polite">
            {selected.length ? `${selected.length} selected` : `Select ${MIN_COMPARE}–${MAX_COMPARE} runs to compare`}
          </span>
          {selected.length ? (
            <button type="button" onClick={() => setSelected([])}>
              Clear selection
            </button>
          ) : null}
          <button type="button" className="primary" disabled={!compareOk} onClick={() => navigate(`/compare?runs=${selected.map(seg).join(",")}`)} title={compareOk ? undefined : `Select ${MIN_COMPARE} to ${MAX_COMPARE} runs`}>
            Compare{selected.length ? ` (${selected.length})` : ""}
          </button>
        </div>
      </div>
      {pages.error && !badFilter ? <ErrorNotice error={pages.error} title="Runs" /> : null}
      <p className="runs-count hint" aria-live="polite">
        {pages.total !== undefined ? `${pages.total.toLocaleString("en-US")} run${pages.total === 1 ? "" : "s"}${filter ? " match" : ""}` : ""}
        {pages.total !== undefined && pages.rows.length < pages.total ? ` · ${pages.rows.length.toLocaleString("en-US")} loaded` : ""}
        {orderBy ? ` · sorted by ${orderBy}` : ""}
        {unseen ? (
          <>
            {" · "}
            <button type="button" className="link-button" onClick={() => setReloadKey((k) => k + 1)}>
              {unseen} new or changed run{unseen === 1 ? "" : "s"}: refresh
            </button>
          </>
        ) : null}
      </p>
      {pages.loading && !pages.rows.length && !pages.error ? (
        <Loading what="Loading runs" />
      ) : !pages.rows.length && !pages.error ? (
        <Empty>{filter ? "No run matches this filter." : "No runs yet: runs appear here when a job or an MLflow client logs to this experiment (see `paved train` or the quickstart)."}</Empty>
      ) : badFilter ? null : (
        <VirtualTable
          label={experimentId ? `Runs of ${title}` : "Runs"}
          columns={tableColumns}
          rows={pages.rows}
          rowKey={(run) => run.id}
          total={pages.total}
          onVisibleEnd={want}
          resetKey={resetKey}
          rowClassName={(run) => (selectedSet.has(run.id) ? "selected" : undefined)}
        />
      )}
    </div>
  );
}

/** Which metrics, params and tags are columns: checkboxes per key, with a box to find a key among many. */
function ColumnChooser({ available, columns, onChange }: { available: Record<Kind, string[]>; columns: DataColumn[]; onChange: (next: DataColumn[]) => void }) {
  const [find, setFind] = useState("");
  const chosen = new Set(columns.map(columnId));
  const toggle = (c: DataColumn) => onChange(chosen.has(columnId(c)) ? columns.filter((x) => columnId(x) !== columnId(c)) : [...columns, c]);
  const needle = find.trim().toLowerCase();
  const groups: [Kind, string][] = [
    ["metrics", "Metrics"],
    ["params", "Params"],
    ["tags", "Tags"],
  ];
  return (
    <details className="column-chooser">
      <summary>Columns ({columns.length})</summary>
      <div className="column-chooser-body">
        <label htmlFor="column-find">Find a key</label>
        <input id="column-find" type="search" value={find} onChange={(e) => setFind(e.target.value)} autoComplete="off" />
        {groups.map(([kind, name]) => {
          const shown = available[kind].filter((k) => !needle || k.toLowerCase().includes(needle));
          return (
            <fieldset key={kind}>
              <legend>
                {name} ({available[kind].length})
              </legend>
              {shown.length ? (
                <ul>
                  {shown.slice(0, 200).map((key) => {
                    const c = { kind, key };
                    return (
                      <li key={key}>
                        <label>
                          <input type="checkbox" checked={chosen.has(columnId(c))} onChange={() => toggle(c)} /> {key}
                        </label>
                      </li>
                    );
                  })}
                </ul>
              ) : (
                <p className="hint">none</p>
              )}
            </fieldset>
          );
        })}
        <button type="button" onClick={() => onChange([])}>
          No extra columns
        </button>
      </div>
    </details>
  );
}
