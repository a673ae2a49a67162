// One deployment, live: its traffic split, the serving figures of each version, the canary's steps
// and their analysis, the A/B test and its verdict, the shadow's comparison, and the history; with
// promote, pause, resume and roll back behind a confirmation. Refreshes itself while it progresses.
import { useState } from "react";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { Deployment, DeploymentServing } from "../../../src/client/types.ts";
import { ACTIVE_PHASES, LIVE_MS, TrafficSplit } from "./deployments.tsx";
import { formatNumber, modelPath, percent, versionPath } from "./models.tsx";
import "./models.css";

type Serving = DeploymentServing["versions"];


export default function DeploymentPage({ params }: PageProps) {
  const id = params.id!;
  const deployment = useApi(() => api.getDeployment(id), [id], { live: { topics: ["deployments"], match: (e) => e.id === id }, refreshMs: LIVE_MS });
  const d = deployment.data;
  const model = d?.spec.model;
  // Serving counters change with every request, not in the database: they are polled.
  const stats = useApi(async (): Promise<Serving | undefined> => (model ? (await api.deploymentServing(id)).versions : undefined), [id, model], { refreshMs: LIVE_MS * 2 });
  // An action's refusal shows in its confirmation dialog (ConfirmButton), in the server's words.
  const act = async (run: () => Promise<Deployment>) => {
    await run();
    deployment.reload();
  };
  return (
    <>
      <PageHeader title={d ? `${d.spec.model} v${d.spec.version} → ${d.spec.environment}` : `Deployment ${id}`} help="deployments">
        <Link to="/deployments">All deployments</Link>
      </PageHeader>
      <ErrorNotice error={deployment.error} />
      {d === undefined ? (
        deployment.error ? null : <Loading what="Loading the deployment" />
      ) : (
        <>
          <section className="panel" aria-labelledby="state-title">
            <h2 id="state-title">
              State: <StateBadge state={d.status.phase} />
            </h2>
            <TrafficSplit deployment={d} large />
            {d.requested ? (
              <p className="hint" role="status">
                Requested: {d.requested}; the controller carries it out on its next pass.
              </p>
            ) : null}
            {d.status.scaleLimit ? <p className="fail">{d.status.scaleLimit}</p> : null}
            <Actions deployment={d} act={act} />
          </section>
          <div className="grid">
            <Analysis deployment={d} />
            {d.spec.strategy === "canary" ? <Steps deployment={d} /> : null}
            <Spec deployment={d} />
          </div>
          {d.spec.strategy === "ab" ? <AbTest deployment={d} /> : null}
          {d.status.shadow ? <Shadow deployment={d} /> : null}
          <Serving deployment={d} stats={stats.data} />
          <History deployment={d} />
        </>
      )}
    </>
  );
}

function Actions({ deployment: d, act }: { deployment: Deployment; act: (run: () => Promise<Deployment>) => Promise<void> }) {
  const active = ACTIVE_PHASES.has(d.status.phase);
  const [reason, setReason] = useState("");
  const what = `${d.spec.model} v${d.spec.version} in ${d.spec.environment}`;
  const verdict = d.status.analysis?.verdict ?? "missing";
  if (!active) return <p className="hint">This deployment has finished ({d.status.phase}); start a new one to change what serves.</p>;
  return (
    <div className="actions" aria-label="Deployment actions">
      <ConfirmButton
        label="Promote"
        question={
          <>
            Send all of {d.spec.environment}'s traffic to <strong>version {d.spec.version}</strong> of {d.spec.model} now, skipping the remaining steps? The analysis is <strong>{verdict}</strong>; a failing or missing analysis refuses the promotion.
          </>
        }
        onConfirm={() => act(() => api.promoteDeployment(d.id))}
      />
      {verdict !== "passing" ? (
        <ConfirmButton
          label="Force promote"
          danger
          question={
            <>
              Promote {what} although its analysis is <strong>{verdict}</strong> ({d.status.analysis?.reason ?? "nothing analysed yet"})? The override is recorded with your name and reason.
              <span className="reason-field">
                <label htmlFor="force-reason">Reason (recorded)</label>
                <textarea id="force-reason" value={reason} onChange={(e) => setReason(e.target.value)} />
              </span>
            </>
          }
          onConfirm={() => act(() => api.promoteDeployment(d.id, { force: true, reason }))}
        />
      ) : null}
      {d.paused ? (
        <ConfirmButton label="Resume" question={<>Resume the rollout of {what}? Its current step starts over.</>} onConfirm={() => act(() => api.deploymentAction(d.id, "resume"))} />
      ) : (
        <ConfirmButton label="Pause" question={<>Pause the rollout of {what} at its current split ({d.status.canaryWeight}% to the new version)?</>} onConfirm={() => act(() => api.deploymentAction(d.id, "pause"))} />
      )}
      <ConfirmButton
        label="Roll back"
        danger
        question={
          <>
            Roll back {what}: all traffic returns to {d.status.stableVersion ? `version ${d.status.stableVersion}` : "the stable version"} and version {d.spec.version} is unloaded?
          </>
        }
        onConfirm={() => act(() => api.deploymentAction(d.id, "rollback"))}
      />
    </div>
  );
}

function Analysis({ deployment: d }: { deployment: Deployment }) {
  const a = d.status.analysis;
  const t = d.spec.analysis;
  return (
    <section className="panel" aria-labelledby="analysis-title">
      <h2 id="analysis-title">Analysis</h2>
      {a ? (
        <p>
          <span className={`verdict verdict-${a.verdict}`}>{a.verdict}</span>: {a.reason} <span className="hint">(<Time ms={a.updatedAt} />)</span>
        </p>
      ) : (
        <p className="hint">No verdict recorded.</p>
      )}
      <h3>Thresholds</h3>
      <dl className="kv">
        <dt>Error rate increase ≤</dt>
        <dd>{percent(t.maxErrorRateIncrease)}</dd>
        <dt>p99 latency ≤</dt>
        <dd>
          {formatNumber(t.maxLatencyRatio)}× stable's or {formatNumber(t.minLatencyIncreaseMs ?? 10)} ms above it, whichever is higher
        </dd>
        <dt>Prediction PSI ≤</dt>
        <dd>{t.maxPredictionPsi === null ? "not checked" : formatNumber(t.maxPredictionPsi ?? 0.25)}</dd>
      </dl>
    </section>
  );
}

function Steps({ deployment: d }: { deployment: Deployment }) {
  const s = d.status;
  const active = ACTIVE_PHASES.has(s.phase);
  const state = (i: number) => (s.phase === "Succeeded" || i < s.currentStep ? "done" : i === s.currentStep && active ? "current" : "pending");
  const ends = s.stepStartedAt !== null && active ? s.stepStartedAt + d.spec.stepIntervalSeconds * 1000 : null;
  return (
    <section className="panel" aria-labelledby="steps-title">
      <h2 id="steps-title">Canary steps</h2>
      <ol className="steps" aria-label="Canary steps">
        {d.spec.steps.map((weight, i) => (
          <li key={i} className={`step-${state(i)}`} aria-current={state(i) === "current" ? "step" : undefined}>
            {i + 1}. {weight}%{state(i) === "done" ? " ✓ passed" : state(i) === "current" ? " (now)" : ""}
          </li>
        ))}
      </ol>
      <p className="hint">
        Each step lasts {formatNumber(d.spec.stepIntervalSeconds)} s and is judged on the canary's error rate, p99 latency and predictions against stable's.
        {ends !== null ? (
          <>
            {" "}
            This step is judged at <Time ms={ends} />.
          </>
        ) : null}
      </p>
    </section>
  );
}

function Spec({ deployment: d }: { deployment: Deployment }) {
  return (
    <section className="panel" aria-labelledby="spec-title">
      <h2 id="spec-title">Deployment</h2>
      <dl className="kv">
        <dt>ID</dt>
        <dd className="mono">{d.id}</dd>
        <dt>Model</dt>
        <dd>
          <Link to={modelPath(d.spec.model)}>{d.spec.model}</Link>
        </dd>
        <dt>New version</dt>
        <dd>
          <Link to={versionPath(d.spec.model, d.spec.version)}>v{d.spec.version}</Link>
        </dd>
        <dt>Stable version</dt>
        <dd>{d.status.stableVersion ? <Link to={versionPath(d.spec.model, d.status.stableVersion)}>v{d.status.stableVersion}</Link> : "none"}</dd>
        <dt>Strategy</dt>
        <dd>{d.spec.strategy}</dd>
        <dt>Environment</dt>
        <dd>{d.spec.environment}</dd>
        <dt>Endpoint</dt>
        <dd className="mono">{d.endpoint}</dd>
        {d.spec.scale ? (
          <>
            <dt>Replicas</dt>
            <dd>
              {d.spec.scale.replicas}
              {d.spec.scale.maxReplicas > d.spec.scale.replicas ? `–${d.spec.scale.maxReplicas} (autoscaled)` : ""}
            </dd>
          </>
        ) : null}
        <dt>Started by</dt>
        <dd>
          {d.createdBy}, <Time ms={d.createdAt} />
        </dd>
      </dl>
    </section>
  );
}

const mean = (m: { n: number; sum: number }) => (m.n ? m.sum / m.n : null);

function AbTest({ deployment: d }: { deployment: Deployment }) {
  const ab = d.spec.ab;
  const test = d.status.abTest;
  const r = test?.result ?? null;
  const verdict = !test
    ? "the test has not started"
    : !r
      ? "too few outcomes to test yet (at least 2 per variant)"
      : r.winner
        ? `${r.winner} (version ${r.winner === "A" ? test.versionA : test.versionB}) is significantly better`
        : r.significant
          ? `significant, but fewer than ${ab?.minSamples ?? "the minimum"} outcomes per variant`
          : "no significant difference yet";
  return (
    <section className="panel" aria-labelledby="ab-title">
      <h2 id="ab-title">A/B test</h2>
      {ab ? (
        <p className="hint">
          {ab.split}% of routing keys go to B; comparing <strong>{ab.metric}</strong> ({ab.kind}, {ab.higherIsBetter ? "higher" : "lower"} is better) at α = {ab.alpha}, at least {ab.minSamples} outcomes each
          {ab.autoConclude ? "; concludes itself" : "; a person concludes it (promote or roll back)"}.
        </p>
      ) : null}
      <p>
        Verdict: <span className={`verdict ${r?.winner === "B" ? "verdict-passing" : r?.winner === "A" ? "verdict-failing" : "verdict-missing"}`}>{verdict}</span>
      </p>
      {test ? (
        <table>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Version</th>
              <th scope="col" className="num">
                Outcomes
              </th>
              <th scope="col" className="num">
                Mean {ab?.metric ?? ""}
              </th>
            </tr>
          </thead>
          <tbody>
            {(
              [
                ["A", test.versionA, test.a],
                ["B", test.versionB, test.b],
              ] as const
            ).map(([variant, version, m]) => (
              <tr key={variant}>
                <th scope="row" className={r?.winner === variant ? "winner" : undefined}>
                  {variant}
                  {r?.winner === variant ? " (winner)" : ""}
                </th>
                <td>v{version}</td>
                <td className="num">{formatNumber(m.n)}</td>
                <td className="num">{formatNumber(mean(m))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r ? (
        <dl className="kv">
          <dt>Test</dt>
          <dd>{r.test}</dd>
          <dt>Difference (B − A)</dt>
          <dd>
            {formatNumber(r.difference)} (95% CI {formatNumber(r.ciLow)} to {formatNumber(r.ciHigh)})
          </dd>
          <dt>p-value (sequential)</dt>
          <dd>{r.sequentialPValue === undefined ? "—" : formatNumber(r.sequentialPValue)}</dd>
          <dt>p-value (fixed horizon)</dt>
          <dd>{formatNumber(r.pValue)}</dd>
          <dt>Significant</dt>
          <dd>{r.significant ? "yes" : "no"}</dd>
        </dl>
      ) : null}
    </section>
  );
}

function Shadow({ deployment: d }: { deployment: Deployment }) {
  const s = d.status.shadow!;
  return (
    <section className="panel" aria-labelledby="shadow-title">
      <h2 id="shadow-title">Shadow comparison</h2>
      <p>
        Version {d.spec.version} answers a copy of every request to version {d.status.stableVersion ?? "—"}; its answers are compared, never returned. Verdict: <strong>{s.verdict}</strong>
      </p>
      <dl className="kv">
        <dt>Copies answered</dt>
        <dd>
          {formatNumber(s.requests)} since <Time ms={s.since} />
        </dd>
        <dt>Shadow errors</dt>
        <dd>
          {formatNumber(s.errors)} ({percent(s.errorRate)})
        </dd>
        <dt>p99 latency</dt>
        <dd>
          shadow {s.p99Ms === null ? "—" : `${formatNumber(s.p99Ms)} ms`}, stable {s.stableP99Ms === null ? "—" : `${formatNumber(s.stableP99Ms)} ms`}
        </dd>
        <dt>Prediction PSI</dt>
        <dd>{formatNumber(s.predictionPsi)}</dd>
        <dt>Mean |shadow − stable|</dt>
        <dd>{formatNumber(s.meanAbsoluteDifference)}</dd>
      </dl>
    </section>
  );
}

/** Per version: requests, errors, error rate and latency since it was loaded (the serving metrics the API exposes). */
function Serving({ deployment: d, stats }: { deployment: Deployment; stats: Serving | undefined }) {
  const versions = [d.status.stableVersion, d.spec.version].filter((v, i, all): v is string => v !== null && all.indexOf(v) === i);
  const role = (version: string) => (version === d.spec.version ? (d.spec.strategy === "ab" ? "B" : d.spec.strategy === "shadow" ? "shadow" : "new") : d.spec.strategy === "ab" ? "A" : "stable");
  const ms = (value: number | null) => (value === null ? "—" : `${formatNumber(value)} ms`);
  return (
    <section className="panel" aria-labelledby="serving-title">
      <h2 id="serving-title">Serving, per version</h2>
      {stats === undefined ? (
        <Loading what="Loading serving figures" />
      ) : (
        <table>
          <caption className="hint">Counted since each version was loaded in {d.spec.environment}; the analysis above judges the current step's window.</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Role</th>
              <th scope="col" className="num">
                Requests
              </th>
              <th scope="col" className="num">
                Errors
              </th>
              <th scope="col" className="num">
                Error rate
              </th>
              <th scope="col" className="num">
                Mean latency
              </th>
              <th scope="col" className="num">
                p99 latency
              </th>
            </tr>
          </thead>
          <tbody>
            {versions.map((version) => {
              const v = stats.find((f) => f.version === version);
              return (
                <tr key={version}>
                  <td>
                    <Link to={versionPath(d.spec.model, version)}>v{version}</Link>
                  </td>
                  <td>{role(version)}</td>
                  {v ? (
                    <>
                      <td className="num">{formatNumber(v.requests)}</td>
                      <td className="num">{formatNumber(v.errors)}</td>
                      <td className="num">{v.errorRate === null ? "—" : percent(v.errorRate, 2)}</td>
                      <td className="num">{ms(v.meanMs)}</td>
                      <td className="num">{ms(v.p99Ms)}</td>
                    </>
                  ) : (
                    <td colSpan={5} className="hint">
                      no requests yet in {d.spec.environment}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function History({ deployment: d }: { deployment: Deployment }) {
  const events = [...d.status.history].reverse();
  return (
    <div className="grid">
      <section className="panel" aria-labelledby="history-title">
        <h2 id="history-title">History</h2>
        {events.length === 0 ? (
          <Empty>Nothing has happened yet.</Empty>
        ) : (
          <ol className="history" aria-label="History, newest first">
            {events.map((e, i) => (
              <li key={`${e.time}:${i}`}>
                <Time ms={e.time} />
                {e.reason}
                {e.override ? (
                  <span className="fail">
                    {" "}
                    (forced by {e.override.user}: {e.override.reason})
                  </span>
                ) : null}
              </li>
            ))}
          </ol>
        )}
      </section>
      {d.overrides.length ? (
        <section className="panel" aria-labelledby="overrides-title">
          <h2 id="overrides-title">Overrides</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Overrode</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {d.overrides.map((o) => (
                <tr key={o.id}>
                  <td>
                    <Time ms={o.createdAt} />
                  </td>
                  <td>{o.user}</td>
                  <td>
                    {o.action} over a {o.verdict} analysis ({o.verdictReason})
                  </td>
                  <td>{o.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </div>
  );
}
