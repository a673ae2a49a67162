// The platform's own adoption figures (issue 12, item 6) for platform admins: active people and
// teams, the golden-path funnel, time-to-value, DORA-style delivery figures and satisfaction.
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";

const WINDOWS = ["7d", "28d", "90d"];
const STAGES: Record<string, string> = { workspace: "Opened a workspace", run: "Tracked a run", registered: "Registered a model", gated: "Passed a gate", production: "Reached production" };

export default function Adoption(_props: PageProps) {
  const [since, setSince] = useQueryParam("since", "28d");
  const report = useApi(() => api.getAdoption({ since }), [since]);
  return (
    <>
      <PageHeader title="Adoption" help="adoption">
        <label htmlFor="adoption-window">Window</label>
        <select id="adoption-window" value={since} onChange={(e) => setSince(e.target.value)}>
          {WINDOWS.map((w) => (
            <option key={w} value={w}>
              last {w}
            </option>
          ))}
        </select>
      </PageHeader>
      <ErrorNotice error={report.error} />
      {report.data === undefined ? (
        report.error ? null : <Loading />
      ) : (
        <AdoptionFigures report={report.data} />
      )}
    </>
  );
}

type Report = Awaited<ReturnType<typeof api.getAdoption>>;

function AdoptionFigures({ report: r }: { report: Report }) {
  const top = Math.max(1, ...r.funnel.map((f) => f.users));
  return (
    <>
      <p className="hint">
        From <Time ms={r.since} /> to <Time ms={r.until} />; aggregates only (per-person detail stays in the API, with perUser=true).
      </p>
      <div className="grid">
        <section className="panel" aria-labelledby="active-title">
          <h2 id="active-title">Active</h2>
          <dl className="kv">
            <dt>People, last day / 7 days / window</dt>
            <dd>
              {r.activeUsers.lastDay} / {r.activeUsers.last7Days} / {r.activeUsers.window}
            </dd>
            <dt>People, daily / weekly average</dt>
            <dd>
              {r.activeUsers.dailyAverage} / {r.activeUsers.weeklyAverage}
            </dd>
            <dt>Teams, last 7 days / window</dt>
            <dd>
              {r.activeTeams.last7Days} / {r.activeTeams.window}
            </dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="ttv-title">
          <h2 id="ttv-title">Time to value</h2>
          <dl className="kv">
            <dt>New people</dt>
            <dd>{r.timeToValue.newUsers}</dd>
            <dt>Sign-in → first run (median)</dt>
            <dd>{duration(r.timeToValue.firstRun.p50Seconds)} over {r.timeToValue.firstRun.count}</dd>
            <dt>Sign-in → first production (median)</dt>
            <dd>{duration(r.timeToValue.firstProduction.p50Seconds)} over {r.timeToValue.firstProduction.count}</dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="delivery-title">
          <h2 id="delivery-title">Delivery</h2>
          <dl className="kv">
            <dt>Production deployments</dt>
            <dd>
              {r.delivery.productionDeployments} ({r.delivery.perWeek} a week)
            </dd>
            <dt>Lead time, run → production (median)</dt>
            <dd>{duration(r.delivery.leadTime.p50Seconds)}</dd>
            <dt>Change failure rate</dt>
            <dd>{r.delivery.changeFailureRate === null ? "—" : `${Math.round(r.delivery.changeFailureRate * 100)}% (${r.delivery.failedRollouts} of ${r.delivery.finishedRollouts})`}</dd>
            <dt>Time to restore (median)</dt>
            <dd>{duration(r.delivery.timeToRestore.p50Seconds)}</dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="satisfaction-title">
          <h2 id="satisfaction-title">Satisfaction</h2>
          {r.satisfaction.responses === 0 ? (
            <Empty>No feedback in this window.</Empty>
          ) : (
            <dl className="kv">
              <dt>Responses</dt>
              <dd>{r.satisfaction.responses}</dd>
              <dt>Mean score</dt>
              <dd>{r.satisfaction.meanScore?.toFixed(2)} of 5</dd>
              <dt>Satisfied (4 or 5)</dt>
              <dd>{r.satisfaction.satisfied === null ? "—" : `${Math.round(r.satisfaction.satisfied * 100)}%`}</dd>
              <dt>Scores 1–5</dt>
              <dd>{r.satisfaction.distribution.join(" · ")}</dd>
            </dl>
          )}
        </section>
      </div>
      <section aria-labelledby="funnel-title">
        <h2 id="funnel-title">The golden path</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Stage</th>
              <th scope="col" className="num">People</th>
              <th scope="col" className="num">Through every earlier stage</th>
              <th scope="col" className="num">Conversion</th>
              <th scope="col">
                <span className="sr-only">Bar</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {r.funnel.map((f) => (
              <tr key={f.stage}>
                <td>{STAGES[f.stage] ?? f.stage}</td>
                <td className="num">{f.users}</td>
                <td className="num">{f.throughPath}</td>
                <td className="num">{f.conversion === null ? "—" : `${Math.round(f.conversion * 100)}%`}</td>
                <td>
                  <span className="bar" style={{ width: `${Math.round((f.users / top) * 200)}px` }} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="teams-title">
        <h2 id="teams-title">Teams</h2>
        {r.teams.length === 0 ? (
          <Empty>No team yet.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Team</th>
                <th scope="col" className="num">Active people</th>
                <th scope="col" className="num">Runs</th>
                <th scope="col" className="num">Jobs</th>
                <th scope="col" className="num">GPU hours</th>
                <th scope="col" className="num">Workspaces</th>
                <th scope="col" className="num">Model versions</th>
                <th scope="col" className="num">Production deployments</th>
              </tr>
            </thead>
            <tbody>
              {r.teams.map((t) => (
                <tr key={t.team}>
                  <td>{t.team}</td>
                  <td className="num">{t.activeUsers}</td>
                  <td className="num">{t.runs}</td>
                  <td className="num">{t.jobs}</td>
                  <td className="num">{t.gpuHours}</td>
                  <td className="num">{t.workspaces}</td>
                  <td className="num">{t.modelVersions}</td>
                  <td className="num">{t.productionDeployments}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

/** Seconds as the largest sensible unit: "—" when there is none. */
function duration(seconds: number | null): string {
  if (seconds === null) return "—";
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}
