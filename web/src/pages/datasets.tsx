// The datasets of my teams: each with its latest version, how many it has and its aliases. The
// filter (?q=, ?team=, applied to the page shown) is in the URL; ?page= is the next page's token (a
// page holds 1000 datasets, most recently changed first).
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const PAGE = 1000;

export default function DatasetsPage(_props: PageProps) {
  const [q, setQ] = useQueryParam("q");
  const [team, setTeam] = useQueryParam("team");
  const [page] = useQueryParam("page");
  const listed = useApi(() => api.listDatasetsPage({ limit: PAGE, ...(page ? { pageToken: page } : {}) }), [page]);
  const { error, loading } = listed;
  const data = listed.data?.datasets;
  const next = listed.data?.nextPageToken;
  const teams = [...new Set((data ?? []).map((d) => d.team))].sort();
  const needle = q.trim().toLowerCase();
  const shown = (data ?? []).filter((d) => (!team || d.team === team) && (!needle || d.name.includes(needle) || (d.description ?? "").toLowerCase().includes(needle)));
  return (
    <>
      <PageHeader title="Datasets" help="datasets" />
      <div className="filters" role="search">
        <label>
          Name or description
          <input type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="filter" />
        </label>
        <label>
          Team
          <select value={team} onChange={(e) => setTeam(e.target.value)}>
            <option value="">all my teams</option>
            {teams.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Loading datasets" /> : null}
      {data && shown.length === 0 ? (
        <Empty>
          {data.length === 0 ? (
            <>
              No datasets yet. Create one with <code>paved datasets create NAME FILE…</code> (see <Link to="/docs/datasets">Datasets</Link>).
            </>
          ) : (
            "No dataset matches this filter."
          )}
        </Empty>
      ) : null}
      {shown.length > 0 ? (
        <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
          <table>
            <caption className="hint">
              {shown.length} of {data?.length ?? 0} datasets
            </caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Team</th>
                <th scope="col">Description</th>
                <th scope="col" className="num">
                  Latest
                </th>
                <th scope="col" className="num">
                  Versions
                </th>
                <th scope="col">Aliases</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr key={d.name}>
                  <td>
                    <Link to={`/datasets/${seg(d.name)}`}>{d.name}</Link>
                  </td>
                  <td>{d.team}</td>
                  <td>{d.description ?? ""}</td>
                  <td className="num">{d.latestVersion ?? "—"}</td>
                  <td className="num">{d.versionCount}</td>
                  <td>
                    <span className="chips">
                      {Object.entries(d.aliases).map(([alias, version]) => (
                        <Link key={alias} className="badge" to={`/datasets/${seg(d.name)}?version=${version}`}>
                          {alias} → v{version}
                        </Link>
                      ))}
                    </span>
                  </td>
                  <td>
                    <Time ms={d.updatedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {page || next ? (
        <p className="hint">
          {page ? <Link to={withQuery({ page: undefined })}>Most recent datasets</Link> : null} {next ? <Link to={withQuery({ page: next })}>More datasets</Link> : null}
        </p>
      ) : null}
    </>
  );
}
