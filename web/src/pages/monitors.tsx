// Model monitoring (issue 12): every monitor the caller may read with its latest window (drift,
// latency, errors), and the alerts firing now. Refreshes itself.
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";

export default function Monitors(_props: PageProps) {
  const [model, setModel] = useQueryParam("model");
  const monitors = useApi(() => api.listMonitors(model ? { model } : {}), [model], { refreshMs: 10_000 });
  const alerts = useApi(() => api.listAlerts({ state: "firing" }), [], { refreshMs: 10_000 });
  return (
    <>
      <PageHeader title="Monitoring" help="observability">
        <label htmlFor="monitor-model" className="sr-only">
          Model
        </label>
        <input id="monitor-model" placeholder="model name" value={model} onChange={(e) => setModel(e.target.value.trim())} />
      </PageHeader>
      <section aria-labelledby="alerts-title" className="panel">
        <h2 id="alerts-title">Alerts firing</h2>
        <ErrorNotice error={alerts.error} />
        {alerts.data === undefined ? (
          <Loading />
        ) : alerts.data.length === 0 ? (
          <Empty>No alert is firing.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Severity</th>
                <th scope="col">Team</th>
                <th scope="col">Since</th>
                <th scope="col">What</th>
                <th scope="col">Paused rollout</th>
              </tr>
            </thead>
            <tbody>
              {alerts.data.map((a) => (
                <tr key={a.id}>
                  <td>{a.rule}</td>
                  <td>
                    <StateBadge state={a.severity} />
                  </td>
                  <td>{a.team}</td>
                  <td>
                    <Time ms={a.startedAt} />
                  </td>
                  <td>{a.annotations.summary ?? a.annotations.description ?? Object.entries(a.labels).map(([k, v]) => `${k}=${v}`).join(" ")}</td>
                  <td>{a.pausedDeployment ? <Link to={`/deployments/${seg(a.pausedDeployment)}`}>{a.pausedDeployment}</Link> : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section aria-labelledby="monitors-title">
        <h2 id="monitors-title">Monitors</h2>
        <ErrorNotice error={monitors.error} />
        {monitors.data === undefined ? (
          <Loading />
        ) : monitors.data.length === 0 ? (
          <Empty>
            No monitor{model ? ` of ${model}` : ""} yet. <code>paved deploy</code> creates one for each deployed version; or <code>paved monitors create</code>.
          </Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Environment</th>
                <th scope="col">Latest window</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Requests</th>
                <th scope="col" className="num">Error rate</th>
                <th scope="col" className="num">p50 / p99 ms</th>
                <th scope="col">Drifted features</th>
              </tr>
            </thead>
            <tbody>
              {monitors.data.map((m) => {
                const w = m.latest;
                return (
                  <tr key={m.id}>
                    <td>
                      <Link to={`/monitors/${seg(m.id)}`}>
                        {m.model} v{m.version}
                      </Link>
                    </td>
                    <td>{m.environment}</td>
                    <td>{w ? <Time ms={w.end} /> : "—"}</td>
                    <td>{w ? <StateBadge state={w.status} /> : <span className="hint">no window closed yet</span>}</td>
                    <td className="num">{w?.requests ?? "—"}</td>
                    <td className="num">{fixed(w?.figures.errorRate, 3)}</td>
                    <td className="num">
                      {fixed(w?.figures.latencyP50Ms, 1)} / {fixed(w?.figures.latencyP99Ms, 1)}
                    </td>
                    <td>{w && w.figures.driftedFeatures.length ? w.figures.driftedFeatures.join(", ") : "none"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined ? "—" : value.toFixed(digits);
}
