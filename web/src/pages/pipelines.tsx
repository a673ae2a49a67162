// The pipelines of my teams: name, steps, version, and where to see their runs. ?q= filters the
// page shown; ?page= is the next page's token (a page holds 1000 pipelines).
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const PAGE = 1000;

export default function PipelinesPage(_props: PageProps) {
  const [q, setQ] = useQueryParam("q");
  const [page] = useQueryParam("page");
  const listed = useApi(() => api.listPipelinesPage({ limit: PAGE, ...(page ? { pageToken: page } : {}) }), [page]);
  const { error, loading } = listed;
  const data = listed.data?.pipelines;
  const next = listed.data?.nextPageToken;
  const needle = q.trim().toLowerCase();
  const shown = (data ?? []).filter((p) => !needle || p.name.includes(needle) || (p.description ?? "").toLowerCase().includes(needle));
  return (
    <>
      <PageHeader title="Pipelines" help="pipelines">
        <Link className="button" to="/catalog?tab=templates">
          New from a template
        </Link>
      </PageHeader>
      <div className="filters" role="search">
        <label>
          Name or description
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="filter" />
        </label>
      </div>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Loading pipelines" /> : null}
      {data && shown.length === 0 ? (
        <Empty>
          {data.length === 0 ? (
            <>
              No pipelines yet. Start from the <Link to="/catalog?tab=templates">golden-path template</Link>, then <code>paved pipelines apply -f pipeline.yaml</code>.
            </>
          ) : (
            "No pipeline matches this filter."
          )}
        </Empty>
      ) : null}
      {shown.length > 0 ? (
        <table>
          <caption className="hint">
            {shown.length} of {data?.length ?? 0} pipelines
          </caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Team</th>
              <th scope="col">Description</th>
              <th scope="col">Steps</th>
              <th scope="col" className="num">
                Version
              </th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((p) => (
              <tr key={p.name}>
                <td>
                  <Link to={`/pipelines/${seg(p.name)}`}>{p.name}</Link>
                </td>
                <td>{p.team}</td>
                <td>{p.description ?? ""}</td>
                <td>{p.steps.map((s) => s.name).join(" → ")}</td>
                <td className="num">{p.version}</td>
                <td>
                  <Time ms={p.updatedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {page || next ? (
        <p className="hint">
          {page ? <Link to={withQuery({ page: undefined })}>First pipelines</Link> : null} {next ? <Link to={withQuery({ page: next })}>More pipelines</Link> : null}
        </p>
      ) : null}
    </>
  );
}
