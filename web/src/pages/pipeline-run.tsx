// One pipeline run: its steps as a graph with their states (live while it runs), the steps' table
// (attempts, what each follows, outputs, what a cached step reused), a step's logs, its events, and
// cancel with confirmation. ?step= holds the step whose logs are shown.
import { useEffect, useState, type ReactNode } from "react";
import type { PipelineRun, StepView } from "../../../src/modules/pipelines/schema.ts";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { Dag, pipelineDependencies, runNodes } from "../components/dag.tsx";
import { useApi } from "../components/use-api.ts";
import { useLive } from "../live.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const LIVE = new Set(["RUNNING", "CANCELLING"]);

export default function PipelineRunPage({ params }: PageProps) {
  const id = params.id!;
  const [step, setStep] = useQueryParam("step");
  // Reloaded on the live stream's news of this run (or its steps); polled instead while the stream
  // is not open and the run is live (or not yet loaded). An ended run stays still.
  const [polling, setPolling] = useState(true);
  const stream = useLive(["pipelines"], (m) => {
    if (m.type === "reset" || m.event.id === id || m.event.parent === id) run.reload();
  });
  const run = useApi(() => api.getPipelineRun(id), [id], { refreshMs: polling && stream !== "open" ? 2000 : undefined });
  const r = run.data;
  const live = r ? LIVE.has(r.phase) : false;
  useEffect(() => setPolling(!r || live), [r, live]);
  // The pipeline's spec gives the steps' dependencies (the run itself lists only its step instances).
  const pipeline = useApi(async () => (r ? api.getPipeline(r.pipeline) : undefined), [r?.pipeline]);
  const deps = pipeline.data ? pipelineDependencies(pipeline.data) : new Map<string, string[]>();
  const nodes = r?.steps ? runNodes(r.steps, deps) : [];
  return (
    <>
      <PageHeader title={`Pipeline run ${id}`} help="pipelines">
        {r && live ? (
          <ConfirmButton
            label="Cancel run"
            danger
            disabled={r.phase === "CANCELLING"}
            question={<>Cancel run {id} of {r.pipeline}? No step starts after this, and its running steps (their jobs) are cancelled.</>}
            onConfirm={async () => {
              await api.cancelPipelineRun(id);
              run.reload();
            }}
          />
        ) : null}
      </PageHeader>
      <ErrorNotice error={run.error} />
      {!r && run.loading ? <Loading /> : null}
      {r ? (
        <>
          <div className="panel">
            <dl className="kv">
              <dt>Phase</dt>
              <dd>
                <span aria-live="polite">
                  <StateBadge state={r.phase} />
                </span>{" "}
                {live ? <span className="hint">updates live</span> : null}
              </dd>
              <dt>Pipeline</dt>
              <dd>
                <Link to={`/pipelines/${seg(r.pipeline)}`}>{r.pipeline}</Link> (version {r.pipelineVersion}
                {pipeline.data && pipeline.data.version !== r.pipelineVersion ? `; the graph's edges are version ${pipeline.data.version}'s` : ""})
              </dd>
              <dt>Owner</dt>
              <dd>
                {r.owner} ({r.team})
              </dd>
              <dt>Started</dt>
              <dd>
                <Time ms={r.createdAt} />
              </dd>
              <dt>Finished</dt>
              <dd>
                <Time ms={r.finishedAt} />
              </dd>
              <dt>Steps</dt>
              <dd>
                {Object.entries(r.counts)
                  .filter(([, n]) => n > 0)
                  .map(([phase, n]) => `${n} ${phase}`)
                  .join(", ") || "—"}
              </dd>
              {r.message ? (
                <>
                  <dt>Message</dt>
                  <dd>{r.message}</dd>
                </>
              ) : null}
              <dt>Parameters</dt>
              <dd>
                <code>{JSON.stringify(r.parameters)}</code>
              </dd>
            </dl>
          </div>
          <h2>Steps</h2>
          {nodes.length ? <Dag label={`Steps of run ${id}: ${nodes.map((n) => `${n.label} ${n.state}`).join(", ")}`} nodes={nodes} selected={step || undefined} onSelect={(key) => setStep(key)} /> : <Empty>No steps yet.</Empty>}
          {r.steps ? <StepsTable steps={r.steps} selected={step} onSelect={setStep} /> : null}
          {step ? <StepLogs id={id} step={step} run={r} /> : <p className="hint">Choose a step (in the graph or the table) to see its logs.</p>}
          {r.events?.length ? (
            <>
              <h2>Events</h2>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Time</th>
                    <th scope="col">Event</th>
                    <th scope="col">Message</th>
                  </tr>
                </thead>
                <tbody>
                  {r.events.map((e, i) => (
                    <tr key={i}>
                      <td>
                        <Time ms={e.time} />
                      </td>
                      <td>{e.type}</td>
                      <td>{e.message}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          ) : null}
        </>
      ) : null}
    </>
  );
}

function handleLink(handle: string | null): ReactNode {
  if (!handle) return "—";
  if (/^job-[\w-]+$/.test(handle)) return <Link to={`/jobs/${seg(handle)}`}>{handle}</Link>;
  if (/^deploy-[\w-]+$/.test(handle)) return <Link to={`/deployments/${seg(handle)}`}>{handle}</Link>;
  return <span className="mono">{handle}</span>;
}

function StepsTable({ steps, selected, onSelect }: { steps: StepView[]; selected: string; onSelect: (key: string) => void }) {
  return (
    <div className="data-table-wrap" tabIndex={0} role="region" aria-label="Table (scrolls sideways)">
      <table className="steps-table">
        <thead>
          <tr>
            <th scope="col">Step</th>
            <th scope="col">Kind</th>
            <th scope="col">State</th>
            <th scope="col" className="num">
              Attempt
            </th>
            <th scope="col">Follows</th>
            <th scope="col">Started</th>
            <th scope="col">Finished</th>
            <th scope="col">Outputs</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {steps.map((s) => (
            <tr key={s.key} aria-selected={s.key === selected || undefined}>
              <td>
                <button type="button" className="link-button" aria-pressed={s.key === selected} onClick={() => onSelect(s.key)}>
                  {s.key}
                </button>
              </td>
              <td>{s.kind}</td>
              <td>
                <StateBadge state={s.phase} />
                {s.cachedFrom ? (
                  <span className="hint">
                    {" "}
                    from <Link to={`/pipeline-runs/${seg(s.cachedFrom.run)}?step=${encodeURIComponent(s.cachedFrom.step)}`}>{s.cachedFrom.run}</Link>
                  </span>
                ) : null}
              </td>
              <td className="num">{s.attempt}</td>
              <td>{handleLink(s.handle)}</td>
              <td>
                <Time ms={s.startedAt} />
              </td>
              <td>
                <Time ms={s.finishedAt} />
              </td>
              <td className="outputs">{Object.keys(s.outputs).length ? <code>{JSON.stringify(s.outputs).slice(0, 200)}</code> : "—"}</td>
              <td>{s.message ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function StepLogs({ id, step, run }: { id: string; step: string; run: PipelineRun }) {
  const instance = run.steps?.find((s) => s.key === step);
  const running = instance?.phase === "running" || instance?.phase === "pending";
  const { data, error, loading } = useApi(() => api.pipelineRunLogs(id, { step, limitBytes: 256 * 1024 }), [id, step], { refreshMs: running ? 2000 : undefined });
  return (
    <section aria-labelledby="logs-heading">
      <h2 id="logs-heading">Logs of {step}</h2>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Loading logs" /> : null}
      {data && data.length === 0 ? <Empty>This step has no logs (only job steps write them).</Empty> : null}
      {data?.map((log) => (
        <div key={log.step}>
          {data.length > 1 ? <h3>{log.step}</h3> : null}
          {log.handle && /^job-/.test(log.handle) ? (
            <p className="hint">
              Job <Link to={`/jobs/${seg(log.handle)}`}>{log.handle}</Link>
            </p>
          ) : null}
          <pre className="logs" tabIndex={0} role="region" aria-label={`Log of ${log.step}`}>
            {log.text || "(empty)"}
          </pre>
        </div>
      ))}
    </section>
  );
}
