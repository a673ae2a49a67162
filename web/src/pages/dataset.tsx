// One dataset: its versions (digests, aliases, rows, sizes), one version's files with their schema,
// row counts and column statistics, a preview of its rows, and the difference between two versions.
// The URL holds it all: ?tab=, ?version= (a number or an alias), ?file=, ?from= and ?to=; ?page=
// is the token of the page of older versions shown (a page holds 1000, newest first).
import type { ColumnView, DatasetDiff, DatasetVersionView } from "../../../src/modules/datasets/schema.ts";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { Markdown } from "../components/markdown.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, navigate, useLocation, useQueryParam, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const TABS = [
  ["versions", "Versions"],
  ["schema", "Schema and statistics"],
  ["preview", "Preview"],
  ["diff", "Diff"],
] as const;

const VERSIONS_PAGE = 1000;

export default function DatasetPage({ params }: PageProps) {
  const name = params.name!;
  const location = useLocation();
  const tab = location.query.get("tab") ?? "versions";
  const page = location.query.get("page") ?? "";
  const dataset = useApi(() => api.getDataset(name), [name]);
  const listed = useApi(() => api.listDatasetVersionsPage(name, { limit: VERSIONS_PAGE, ...(page ? { pageToken: page } : {}) }), [name, page]);
  const versions = { ...listed, data: listed.data?.versions };
  const d = dataset.data;
  return (
    <>
      <PageHeader title={name} help="datasets" />
      <ErrorNotice error={dataset.error} />
      {d ? (
        <div className="panel">
          <dl className="kv">
            <dt>Team</dt>
            <dd>{d.team}</dd>
            <dt>Description</dt>
            <dd>{d.description ? <Markdown source={d.description} /> : "—"}</dd>
            <dt>Versions</dt>
            <dd>
              {d.versionCount} (latest: {d.latestVersion ?? "none"})
            </dd>
            <dt>Aliases</dt>
            <dd>
              <span className="chips">
                {Object.keys(d.aliases).length === 0 ? "none" : null}
                {Object.entries(d.aliases).map(([alias, version]) => (
                  <Link key={alias} className="badge" to={withQuery({ tab: "schema", version: String(version) }, location)}>
                    {alias} → v{version}
                  </Link>
                ))}
              </span>
            </dd>
            <dt>Use it</dt>
            <dd>
              <code>datasets:/{name}@latest</code> in a job&apos;s <code>datasets:</code>, or <code>paved datasets show {name}</code>
            </dd>
            <dt>Created</dt>
            <dd>
              <Time ms={d.createdAt} /> by {d.createdBy}
            </dd>
          </dl>
        </div>
      ) : dataset.loading ? (
        <Loading />
      ) : null}
      <nav className="tabs" aria-label="Dataset views">
        {TABS.map(([id, label]) => (
          <Link key={id} to={withQuery({ tab: id === "versions" ? undefined : id }, location)} aria-current={tab === id ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      <ErrorNotice error={versions.error} />
      {tab === "versions" ? <Versions name={name} versions={versions.data} /> : null}
      {tab === "versions" && (page || listed.data?.nextPageToken) ? (
        <p className="hint">
          {page ? <Link to={withQuery({ page: undefined }, location)}>Newest versions</Link> : null} {listed.data?.nextPageToken ? <Link to={withQuery({ page: listed.data.nextPageToken }, location)}>Older versions</Link> : null}
        </p>
      ) : null}
      {tab === "schema" ? <Schema name={name} latest={d?.latestVersion ?? null} /> : null}
      {tab === "preview" ? <Preview name={name} latest={d?.latestVersion ?? null} /> : null}
      {tab === "diff" ? <Diff name={name} versions={versions.data} /> : null}
    </>
  );
}

function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

function Versions({ name, versions }: { name: string; versions: DatasetVersionView[] | undefined }) {
  const location = useLocation();
  if (!versions) return <Loading what="Loading versions" />;
  if (versions.length === 0) return <Empty>No versions yet: add one with <code>paved datasets create {name} FILE…</code>.</Empty>;
  const from = location.query.get("from") ?? (versions[1] ? String(versions[1].version) : "");
  const to = location.query.get("to") ?? (versions[0] ? String(versions[0].version) : "");
  return (
    <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
      <table>
        <caption className="hint">Pick two versions (From, To) and open the diff.</caption>
        <thead>
          <tr>
            <th scope="col" className="num">
              Version
            </th>
            <th scope="col">Digest</th>
            <th scope="col">Aliases</th>
            <th scope="col" className="num">
              Files
            </th>
            <th scope="col" className="num">
              Rows
            </th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Source</th>
            <th scope="col">Description</th>
            <th scope="col">Created</th>
            <th scope="col">From</th>
            <th scope="col">To</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version}>
              <td className="num">
                <Link to={withQuery({ tab: "schema", version: String(v.version) }, location)}>v{v.version}</Link>
              </td>
              <td>
                <span className="digest" title={v.digest}>
                  {shortDigest(v.digest)}
                </span>
              </td>
              <td>
                <span className="chips">
                  {v.aliases.map((a) => (
                    <span key={a} className="badge">
                      {a}
                    </span>
                  ))}
                </span>
              </td>
              <td className="num">{v.fileCount}</td>
              <td className="num">{v.rowCount?.toLocaleString() ?? "—"}</td>
              <td className="num">{bytes(v.totalBytes)}</td>
              <td>{v.source ? `${v.source.kind}: ${v.source.description}` : "upload"}</td>
              <td>{v.description ?? ""}</td>
              <td>
                <Time ms={v.createdAt} /> by {v.createdBy}
              </td>
              <td>
                <input type="radio" name="diff-from" aria-label={`Diff from v${v.version}`} checked={from === String(v.version)} onChange={() => navigate(withQuery({ from: String(v.version) }, location), { replace: true })} />
              </td>
              <td>
                <input type="radio" name="diff-to" aria-label={`Diff to v${v.version}`} checked={to === String(v.version)} onChange={() => navigate(withQuery({ to: String(v.version) }, location), { replace: true })} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.length > 1 ? (
        <p>
          <Link className="button primary" to={withQuery({ tab: "diff", from, to }, location)}>
            Diff v{from} → v{to}
          </Link>
        </p>
      ) : null}
    </div>
  );
}

function VersionPicker({ latest }: { latest: number | null }) {
  const [version, setVersion] = useQueryParam("version", latest === null ? "latest" : String(latest));
  return (
    <label>
      Version
      <input value={version} size={10} onChange={(e) => setVersion(e.target.value.trim())} aria-describedby="version-hint" />
      <span id="version-hint" className="hint">
        a number, an alias or latest
      </span>
    </label>
  );
}

function Schema({ name, latest }: { name: string; latest: number | null }) {
  const location = useLocation();
  const version = location.query.get("version") ?? "latest";
  const { data, error, loading } = useApi(() => api.getDatasetVersion(name, version), [name, version]);
  const files = data?.files ?? [];
  const path = location.query.get("file") ?? files.find((f) => f.columns)?.path ?? files[0]?.path;
  const file = files.find((f) => f.path === path);
  return (
    <section aria-label="Schema and statistics">
      <div className="filters">
        <VersionPicker latest={latest} />
        {files.length > 1 ? <FilePicker files={files.map((f) => f.path)} value={path ?? ""} /> : null}
      </div>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading /> : null}
      {data ? (
        <>
          <p>
            <strong>v{data.version}</strong> <span className="digest">{data.digest}</span> · {data.fileCount} files · {bytes(data.totalBytes)} · {data.rowCount?.toLocaleString() ?? "—"} rows
            {data.aliases.length ? ` · aliases: ${data.aliases.join(", ")}` : ""}
          </p>
          {files.length > 1 ? (
            <details>
              <summary>Files ({files.length})</summary>
              <FileTable files={data.files ?? []} />
            </details>
          ) : null}
          {file ? (
            file.columns ? (
              <Columns columns={file.columns} rows={file.rowCount} />
            ) : (
              <Empty>
                {file.path} is a {file.format} file: no schema or statistics (those are computed for CSV and Parquet).
              </Empty>
            )
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function FilePicker({ files, value }: { files: string[]; value: string }) {
  const location = useLocation();
  return (
    <label>
      File
      <select value={value} onChange={(e) => navigate(withQuery({ file: e.target.value }, location), { replace: true })}>
        {files.map((f) => (
          <option key={f} value={f}>
            {f}
          </option>
        ))}
      </select>
    </label>
  );
}

function FileTable({ files }: { files: NonNullable<DatasetVersionView["files"]> }) {
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Path</th>
          <th scope="col">Format</th>
          <th scope="col" className="num">
            Rows
          </th>
          <th scope="col" className="num">
            Size
          </th>
          <th scope="col">Digest</th>
        </tr>
      </thead>
      <tbody>
        {files.map((f) => (
          <tr key={f.path}>
            <td>{f.path}</td>
            <td>{f.format}</td>
            <td className="num">{f.rowCount?.toLocaleString() ?? "—"}</td>
            <td className="num">{bytes(f.size)}</td>
            <td>
              <span className="digest" title={f.digest}>
                {shortDigest(f.digest)}
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function show(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString() : value.toPrecision(4);
  return String(value);
}

function Columns({ columns, rows }: { columns: ColumnView[]; rows: number | null }) {
  return (
    <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
      <table className="data-table">
        <caption className="hint">
          {columns.length} columns · {rows?.toLocaleString() ?? "—"} rows
        </caption>
        <thead>
          <tr>
            <th scope="col">Column</th>
            <th scope="col">Type</th>
            <th scope="col">Nulls</th>
            <th scope="col" className="num">
              Distinct ≈
            </th>
            <th scope="col" className="num">
              Min
            </th>
            <th scope="col" className="num">
              Max
            </th>
            <th scope="col" className="num">
              Mean
            </th>
            <th scope="col" className="num">
              Std
            </th>
            <th scope="col" className="num">
              p05 · p50 · p95
            </th>
            <th scope="col">Top values</th>
          </tr>
        </thead>
        <tbody>
          {columns.map((c) => (
            <tr key={c.name}>
              <th scope="row">{c.name}</th>
              <td>
                {c.type} <span className="hint">{c.kind}</span>
              </td>
              <td>
                {c.stats ? (
                  <>
                    <span className="stat-null" aria-hidden="true">
                      <span className="stat-bar" style={{ width: `${Math.round(c.stats.nullFraction * 100)}%` }} />
                    </span>
                    {(c.stats.nullFraction * 100).toFixed(1)}% ({c.stats.nullCount.toLocaleString()})
                  </>
                ) : (
                  "—"
                )}
              </td>
              <td className="num">{show(c.stats?.distinctApprox)}</td>
              <td className="num">{show(c.stats?.min)}</td>
              <td className="num">{show(c.stats?.max)}</td>
              <td className="num">{show(c.stats?.mean)}</td>
              <td className="num">{show(c.stats?.std)}</td>
              <td className="num">{c.stats?.quantiles ? `${show(c.stats.quantiles.p05)} · ${show(c.stats.quantiles.p50)} · ${show(c.stats.quantiles.p95)}` : "—"}</td>
              <td>{c.stats?.topValues ? c.stats.topValues.slice(0, 5).map(show).join(", ") : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {columns.some((c) => !c.stats) ? <p className="hint">Columns without statistics are past the server&apos;s datasets.maxStatisticsColumns.</p> : null}
    </div>
  );
}

function Preview({ name, latest }: { name: string; latest: number | null }) {
  const location = useLocation();
  const version = location.query.get("version") ?? "latest";
  const path = location.query.get("file") ?? undefined;
  const rows = Number(location.query.get("rows") ?? 50) || 50;
  const info = useApi(() => api.getDatasetVersion(name, version), [name, version]);
  const { data, error, loading } = useApi(() => api.previewDataset(name, version, { rows: Math.min(1000, rows), path }), [name, version, path, rows]);
  const tabular = (info.data?.files ?? []).filter((f) => f.columns).map((f) => f.path);
  return (
    <section aria-label="Preview">
      <div className="filters">
        <VersionPicker latest={latest} />
        {tabular.length > 1 ? <FilePicker files={tabular} value={data?.path ?? path ?? ""} /> : null}
        <label>
          Rows
          <select value={String(rows)} onChange={(e) => navigate(withQuery({ rows: e.target.value === "50" ? undefined : e.target.value }, location), { replace: true })}>
            {[20, 50, 200, 1000].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Loading rows" /> : null}
      {data ? (
        <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
          <table className="data-table">
            <caption className="hint">
              First {data.rows.length} rows of {data.path} (v{data.version})
            </caption>
            <thead>
              <tr>
                {data.columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.rows.map((row, r) => (
                <tr key={r}>
                  {row.map((cell, c) => (
                    <td key={c} title={cell === null ? "null" : String(cell)}>
                      {cell === null ? <span className="hint">null</span> : typeof cell === "object" ? JSON.stringify(cell) : String(cell)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function Diff({ name, versions }: { name: string; versions: DatasetVersionView[] | undefined }) {
  const location = useLocation();
  const from = location.query.get("from") ?? (versions?.[1] ? String(versions[1].version) : "");
  const to = location.query.get("to") ?? (versions?.[0] ? String(versions[0].version) : "");
  const ready = Boolean(from && to);
  const { data, error, loading } = useApi(async () => (ready ? api.diffDataset(name, from, to) : undefined), [name, from, to, ready]);
  const pick = (key: "from" | "to", label: string, value: string) => (
    <label>
      {label}
      <select value={value} onChange={(e) => navigate(withQuery({ [key]: e.target.value }, location), { replace: true })}>
        {(versions ?? []).map((v) => (
          <option key={v.version} value={String(v.version)}>
            v{v.version}
            {v.aliases.length ? ` (${v.aliases.join(", ")})` : ""}
          </option>
        ))}
        {value && !(versions ?? []).some((v) => String(v.version) === value) ? <option value={value}>{value}</option> : null}
      </select>
    </label>
  );
  if (versions && versions.length < 2 && !location.query.get("from")) return <Empty>A diff needs two versions; this dataset has {versions.length}.</Empty>;
  return (
    <section aria-label="Diff">
      <div className="filters">
        {pick("from", "From", from)}
        {pick("to", "To", to)}
      </div>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Comparing" /> : null}
      {data ? <DiffView diff={data} /> : null}
    </section>
  );
}

function DiffView({ diff }: { diff: DatasetDiff }) {
  const changed = diff.rowCount.change;
  return (
    <>
      <p>
        v{diff.from.version} <span className="digest">{shortDigest(diff.from.digest)}</span> → v{diff.to.version} <span className="digest">{shortDigest(diff.to.digest)}</span>:{" "}
        {diff.identical ? (
          <strong>identical</strong>
        ) : (
          <>
            rows {diff.rowCount.from?.toLocaleString() ?? "—"} → {diff.rowCount.to?.toLocaleString() ?? "—"}
            {changed !== null ? <span className={changed > 0 ? "added" : changed < 0 ? "removed" : undefined}> ({changed > 0 ? "+" : ""}{changed.toLocaleString()})</span> : null}
          </>
        )}
      </p>
      {diff.identical ? null : (
        <>
          <h2>Files</h2>
          {diff.files.added.length + diff.files.removed.length + diff.files.changed.length === 0 ? <Empty>Same files.</Empty> : null}
          <ul>
            {diff.files.added.map((f) => (
              <li key={`a${f.path}`} className="added">
                + {f.path} ({bytes(f.size)})
              </li>
            ))}
            {diff.files.removed.map((f) => (
              <li key={`r${f.path}`} className="removed">
                − {f.path} ({bytes(f.size)})
              </li>
            ))}
            {diff.files.changed.map((f) => (
              <li key={`c${f.path}`} className="changed">
                ~ {f.path}: {bytes(f.sizeFrom)} → {bytes(f.sizeTo)}
              </li>
            ))}
          </ul>
          {diff.schema.length ? <h2>Schema</h2> : null}
          {diff.schema.map((s) => (
            <div key={s.path} className="panel">
              <strong>{s.path}</strong> rows {s.rowCount.from?.toLocaleString() ?? "—"} → {s.rowCount.to?.toLocaleString() ?? "—"}
              {s.added.length + s.removed.length + s.typeChanged.length === 0 ? <p className="hint">Same columns and types.</p> : null}
              <ul>
                {s.added.map((c) => (
                  <li key={`a${c.name}`} className="added">
                    + {c.name} {c.type}
                  </li>
                ))}
                {s.removed.map((c) => (
                  <li key={`r${c.name}`} className="removed">
                    − {c.name} {c.type}
                  </li>
                ))}
                {s.typeChanged.map((c) => (
                  <li key={`t${c.name}`} className="changed">
                    ~ {c.name}: {c.from} → {c.to}
                  </li>
                ))}
              </ul>
            </div>
          ))}
          {diff.statistics.length ? (
            <>
              <h2>Statistics that changed</h2>
              <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">File</th>
                      <th scope="col">Column</th>
                      <th scope="col">Statistic</th>
                      <th scope="col" className="num">
                        From
                      </th>
                      <th scope="col" className="num">
                        To
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {diff.statistics.map((s, i) => (
                      <tr key={i}>
                        <td>{s.path}</td>
                        <td>{s.column}</td>
                        <td>{s.stat}</td>
                        <td className="num">{show(s.from)}</td>
                        <td className="num">{show(s.to)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          ) : null}
        </>
      )}
    </>
  );
}
