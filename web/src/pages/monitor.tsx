// One monitor: its thresholds and reference, every closed window (status, traffic, latency, errors,
// prediction drift), the latest window's figures per feature, and its sampled traffic turned into
// a dataset version to retrain on.
import { useState, type FormEvent } from "react";
import { api, messageOf } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { fixed } from "./monitors.tsx";

export default function Monitor({ params }: PageProps) {
  const id = params.id!;
  const monitor = useApi(() => api.getMonitor(id), [id], { refreshMs: 10_000 });
  const windows = useApi(() => api.monitorWindows(id, { limit: 100 }), [id], { refreshMs: 10_000 });
  if (monitor.error) return <ErrorNotice error={monitor.error} title={`Monitor ${id}`} />;
  if (!monitor.data) return <Loading />;
  const m = monitor.data;
  // Windows come newest first; an idle window judges nothing, so the features shown are the newest judged ones.
  const latest = windows.data?.find((w) => w.figures.features.length > 0) ?? windows.data?.[0] ?? m.latest;
  return (
    <>
      <PageHeader title={`Monitor of ${m.model} v${m.version} (${m.environment})`} help="observability" />
      <div className="grid">
        <section className="panel" aria-labelledby="monitor-setup">
          <h2 id="monitor-setup">Setup</h2>
          <dl className="kv">
            <dt>Model</dt>
            <dd>
              <Link to={`/models/${seg(m.model)}/versions/${m.version}`}>
                {m.model} v{m.version}
              </Link>
            </dd>
            <dt>Team</dt>
            <dd>{m.team}</dd>
            <dt>Window</dt>
            <dd>{m.spec.windowSeconds} s, drift judged from {m.spec.minRows} sampled rows</dd>
            <dt>Reference</dt>
            <dd>
              {m.reference.kind} from evaluation {m.reference.evaluationId} ({m.reference.features.length} features)
            </dd>
            <dt>Keeps samples</dt>
            <dd>{m.spec.keepSamples ? "yes (30 days)" : "no"}</dd>
            <dt>Created</dt>
            <dd>
              <Time ms={m.createdAt} /> by {m.createdBy}
            </dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="monitor-thresholds">
          <h2 id="monitor-thresholds">Thresholds</h2>
          <dl className="kv">
            {Object.entries(m.thresholds).map(([k, v]) => (
              <div key={k} className="contents">
                <dt>{k}</dt>
                <dd>{v ?? "off"}</dd>
              </div>
            ))}
          </dl>
        </section>
        {m.spec.keepSamples ? <SamplesToDataset id={id} /> : null}
      </div>
      <section aria-labelledby="monitor-features">
        <h2 id="monitor-features">Features in the latest judged window</h2>
        {latest ? (
          <p className="hint">
            Window ending <Time ms={latest.end} />: {latest.rowsKept} sampled rows.
          </p>
        ) : null}
        {!latest ? (
          <Empty>No window has closed yet: figures come when the first one ends.</Empty>
        ) : latest.figures.features.length === 0 ? (
          <Empty>{latest.figures.notes.join(" ") || "No feature was judged in this window."}</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Feature</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">Rows</th>
                <th scope="col" className="num">PSI</th>
                <th scope="col" className="num">KS</th>
                <th scope="col" className="num">Missing</th>
                <th scope="col" className="num">Out of range</th>
                <th scope="col">Drifted</th>
              </tr>
            </thead>
            <tbody>
              {latest.figures.features.map((f) => (
                <tr key={f.feature}>
                  <td>{f.feature}</td>
                  <td>{f.kind}</td>
                  <td className="num">{f.rows}</td>
                  <td className="num">{fixed(f.psi, 3)}</td>
                  <td className="num">{fixed(f.ksStatistic, 3)}</td>
                  <td className="num">{fixed(f.missingRate, 3)}</td>
                  <td className="num">{fixed(f.outOfRangeRate, 3)}</td>
                  <td>{f.drifted ? <span className="fail">drifted</span> : <span className="pass">no</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="monitor-windows">
        <h2 id="monitor-windows">Windows</h2>
        <ErrorNotice error={windows.error} />
        {windows.data === undefined ? (
          <Loading />
        ) : windows.data.length === 0 ? (
          <Empty>No window has closed yet.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Ended</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Requests</th>
                <th scope="col" className="num">Errors</th>
                <th scope="col" className="num">p50 / p99 ms</th>
                <th scope="col" className="num">Prediction PSI</th>
                <th scope="col" className="num">Rows kept / seen</th>
                <th scope="col">Breaches</th>
              </tr>
            </thead>
            <tbody>
              {windows.data.map((w) => (
                <tr key={w.end}>
                  <td>
                    <Time ms={w.end} />
                  </td>
                  <td>
                    <StateBadge state={w.status} />
                  </td>
                  <td className="num">{w.requests}</td>
                  <td className="num">{w.errors}</td>
                  <td className="num">
                    {fixed(w.figures.latencyP50Ms, 1)} / {fixed(w.figures.latencyP99Ms, 1)}
                  </td>
                  <td className="num">{fixed(w.figures.predictionPsi, 3)}</td>
                  <td className="num">
                    {w.rowsKept} / {w.rowsSeen}
                  </td>
                  <td>{w.breaches.map((b) => b.message).join("; ") || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/** Kept windows' sampled rows → a dataset version (POST /api/v1/monitors/:id/dataset). */
function SamplesToDataset({ id }: { id: string }) {
  const [name, setName] = useState("");
  const [made, setMade] = useState<{ dataset: string; version: number; rows: number; windows: number } | undefined>(undefined);
  const [error, setError] = useState("");
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError("");
    setMade(undefined);
    try {
      setMade(await api.monitorDataset(id, { name: name.trim() }));
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section className="panel" aria-labelledby="monitor-samples">
      <h2 id="monitor-samples">Retrain on this traffic</h2>
      <form onSubmit={(e) => void submit(e)}>
        <label htmlFor="samples-dataset">Dataset name</label>{" "}
        <input id="samples-dataset" value={name} onChange={(e) => setName(e.target.value)} required />{" "}
        <button type="submit" className="primary" disabled={!name.trim()}>
          Make a dataset version
        </button>
      </form>
      {made ? (
        <p role="status">
          Made{" "}
          <Link to={`/datasets/${seg(made.dataset)}`}>
            {made.dataset} version {made.version}
          </Link>
          : {made.rows} rows from {made.windows} windows.
        </p>
      ) : null}
      {error ? <p className="error-notice" role="alert">{error}</p> : null}
    </section>
  );
}
