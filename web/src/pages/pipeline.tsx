// One pipeline: its steps as a graph, its spec and parameters, and its runs (newest first, live
// while one is running, a page of 100 at a time); "Start a run" asks first. ?tab= holds the view,
// ?page= the token of the page of older runs shown.
import { useEffect, useState } from "react";
import type { PipelineRun } from "../../../src/modules/pipelines/schema.ts";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { Dag, pipelineDependencies } from "../components/dag.tsx";
import { Markdown } from "../components/markdown.tsx";
import { useApi } from "../components/use-api.ts";
import { useLive } from "../live.ts";
import { Link, navigate, seg, useLocation, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const RUNS_PAGE = 100;

export default function PipelinePage({ params }: PageProps) {
  const name = params.name!;
  const location = useLocation();
  const tab = location.query.get("tab") ?? "runs";
  const page = location.query.get("page") ?? "";
  const pipeline = useApi(() => api.getPipeline(name), [name]);
  // Live: reloaded on the stream's news of its runs; polled instead while the stream is not open and one of its runs is live.
  const [polling, setPolling] = useState(true);
  const stream = useLive(["pipelines"], (m) => {
    if (m.type === "reset" || (m.event.kind === "pipeline-run" && (runs.data ?? []).every((r) => r.id !== m.event.id || r.phase !== m.event.state))) runs.reload();
  });
  const listed = useApi(() => api.listPipelineRunsPage(name, { limit: RUNS_PAGE, ...(page ? { pageToken: page } : {}) }), [name, page], { refreshMs: polling && stream !== "open" ? 3000 : undefined });
  const runs = { ...listed, data: listed.data?.runs };
  const anyLive = (runs.data ?? []).some((r) => r.phase === "RUNNING" || r.phase === "CANCELLING");
  useEffect(() => setPolling(!runs.data || anyLive), [runs.data, anyLive]);
  const p = pipeline.data;
  const deps = p ? pipelineDependencies(p) : new Map<string, string[]>();
  const parameters = ((p?.spec as { spec?: { parameters?: Record<string, unknown> } } | undefined)?.spec?.parameters ?? {}) as Record<string, unknown>;
  return (
    <>
      <PageHeader title={name} help="pipelines">
        {p ? <ConfirmButton label="Start a run" question={<>Start a run of {name} (version {p.version}) with its default parameters?</>} onConfirm={async () => navigate(`/pipeline-runs/${seg((await api.startPipelineRun(name)).id)}`)} /> : null}
      </PageHeader>
      <ErrorNotice error={pipeline.error} />
      {!p && pipeline.loading ? <Loading /> : null}
      {p ? (
        <>
          <div className="panel">
            <dl className="kv">
              <dt>Team</dt>
              <dd>{p.team}</dd>
              <dt>Description</dt>
              <dd>{p.description ? <Markdown source={p.description} /> : "—"}</dd>
              <dt>Version</dt>
              <dd>
                {p.version} (updated <Time ms={p.updatedAt} />)
              </dd>
              <dt>Created</dt>
              <dd>
                <Time ms={p.createdAt} /> by {p.createdBy}
              </dd>
              <dt>Run it</dt>
              <dd>
                <code>paved pipelines run {name} --wait</code>
              </dd>
            </dl>
          </div>
          <Dag label={`Steps of pipeline ${name}`} nodes={p.steps.map((s) => ({ id: s.name, label: s.name, state: s.kind, dependsOn: deps.get(s.name) ?? [] }))} />
        </>
      ) : null}
      <nav className="tabs" aria-label="Pipeline views">
        {[
          ["runs", "Runs"],
          ["spec", "Spec"],
        ].map(([id, label]) => (
          <Link key={id} to={withQuery({ tab: id === "runs" ? undefined : id }, location)} aria-current={tab === id ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      {tab === "runs" ? <Runs runs={runs.data} error={runs.error} loading={runs.loading} /> : null}
      {tab === "runs" && (page || listed.data?.nextPageToken) ? (
        <p className="hint">
          {page ? <Link to={withQuery({ page: undefined }, location)}>Newest runs</Link> : null} {listed.data?.nextPageToken ? <Link to={withQuery({ page: listed.data.nextPageToken }, location)}>Older runs</Link> : null}
        </p>
      ) : null}
      {tab === "spec" && p ? (
        <>
          <h2>Steps</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Step</th>
                <th scope="col">Kind</th>
                <th scope="col">Waits for</th>
              </tr>
            </thead>
            <tbody>
              {p.steps.map((s) => (
                <tr key={s.name}>
                  <td>{s.name}</td>
                  <td>{s.kind}</td>
                  <td>{(deps.get(s.name) ?? []).join(", ") || "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Parameters</h2>
          {Object.keys(parameters).length === 0 ? <Empty>No parameters.</Empty> : null}
          <dl className="kv">
            {Object.entries(parameters).map(([k, v]) => (
              <div key={k} className="contents">
                <dt>{k}</dt>
                <dd>
                  <code>{JSON.stringify(v)}</code>
                </dd>
              </div>
            ))}
          </dl>
          <h2>Spec (version {p.version})</h2>
          <pre className="yaml" tabIndex={0}>
            {JSON.stringify(p.spec, null, 2)}
          </pre>
        </>
      ) : null}
    </>
  );
}

function Runs({ runs, error, loading }: { runs: PipelineRun[] | undefined; error: unknown; loading: boolean }) {
  if (error) return <ErrorNotice error={error} />;
  if (!runs) return loading ? <Loading what="Loading runs" /> : null;
  if (runs.length === 0) return <Empty>No runs yet: start one above, or with <code>paved pipelines run</code>.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Phase</th>
          <th scope="col">Steps</th>
          <th scope="col">Parameters</th>
          <th scope="col">Owner</th>
          <th scope="col">Started</th>
          <th scope="col">Finished</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.id}>
            <td>
              <Link to={`/pipeline-runs/${seg(r.id)}`}>{r.id}</Link>
            </td>
            <td>
              <StateBadge state={r.phase} />
            </td>
            <td>
              {Object.entries(r.counts)
                .filter(([, n]) => n > 0)
                .map(([phase, n]) => `${n} ${phase}`)
                .join(", ")}
            </td>
            <td>
              <code>{JSON.stringify(r.parameters).slice(0, 120)}</code>
            </td>
            <td>{r.owner}</td>
            <td>
              <Time ms={r.createdAt} />
            </td>
            <td>
              <Time ms={r.finishedAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
