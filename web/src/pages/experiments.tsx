// Experiments: each with its runs' count and last activity, and a link to its runs table. The name
// search and the order are in the URL; the list follows runs starting and ending (the event stream,
// polling while it is down). Names are text only.
import { useMemo } from "react";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./runs.css";

const ORDERS = {
  activity: { label: "Last activity", sort: (a: Summary, b: Summary) => b.lastActivityAt - a.lastActivityAt },
  name: { label: "Name", sort: (a: Summary, b: Summary) => a.name.localeCompare(b.name) },
  runs: { label: "Runs", sort: (a: Summary, b: Summary) => b.runCount - a.runCount },
} as const;
type Order = keyof typeof ORDERS;
type Summary = Awaited<ReturnType<typeof api.listExperimentSummaries>>[number];

export default function ExperimentsPage(_props: PageProps) {
  const [q, setQ] = useQueryParam("q");
  const [orderParam, setOrder] = useQueryParam("sort", "activity");
  const order: Order = orderParam in ORDERS ? (orderParam as Order) : "activity";
  const { data, error, loading } = useApi((signal) => api.listExperimentSummaries(signal), [], { refreshMs: 15_000, live: { topics: ["runs"] } });
  const shown = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return (data ?? []).filter((e) => !needle || e.name.toLowerCase().includes(needle)).sort(ORDERS[order].sort);
  }, [data, q, order]);

  const header = (key: Order) => (
    <th scope="col" aria-sort={order === key ? (key === "name" ? "ascending" : "descending") : "none"} className={key === "runs" ? "num" : undefined}>
      <button type="button" onClick={() => setOrder(key)} aria-label={`Sort by ${ORDERS[key].label}`}>
        {ORDERS[key].label}
        {order === key ? (key === "name" ? " ▲" : " ▼") : ""}
      </button>
    </th>
  );

  return (
    <>
      <PageHeader title="Experiments" help="tracking">
        <Link to="/runs" className="button">
          All runs
        </Link>
      </PageHeader>
      <div className="experiments-toolbar" role="search">
        <label htmlFor="experiments-find">Find</label>
        <input id="experiments-find" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="experiment name" autoComplete="off" />
        {data ? (
          <span className="hint" aria-live="polite">
            {shown.length} of {data.length} experiment{data.length === 1 ? "" : "s"}
          </span>
        ) : null}
      </div>
      <ErrorNotice error={error} />
      {loading && !data ? (
        <Loading what="Loading experiments" />
      ) : !shown.length ? (
        <Empty>{q ? "No experiment's name contains this." : "No experiments yet: a job or an MLflow client creates one when it logs its first run."}</Empty>
      ) : (
        <table className="experiments">
          <caption className="sr-only">Experiments</caption>
          <thead>
            <tr>
              {header("name")}
              {header("runs")}
              {header("activity")}
              <th scope="col">Team</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr key={e.id}>
                <td className="name">
                  <Link to={`/experiments/${seg(e.id)}`}>{e.name}</Link>
                </td>
                <td className="num">{e.runCount.toLocaleString("en-US")}</td>
                <td>
                  <Time ms={e.lastActivityAt} />
                </td>
                <td>{e.team}</td>
                <td>
                  <Time ms={e.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
