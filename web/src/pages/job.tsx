// One job: what it asked for and got, why it waits, its attempts and events, its output streamed
// live while it runs (the follow ends when the page closes), and cancel behind a confirmation.
import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, EventsSection, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { ACTIVE_PHASES, LIVE_MS, PendingWhy, elapsedText, formatMiB, requestText, type Job } from "./jobs.tsx";
import "./jobs.css";

const TABS = [
  ["overview", "Overview"],
  ["logs", "Logs"],
  ["spec", "Spec"],
] as const;

/** Bytes of log read at first, and per "earlier output". */
const LOG_PAGE_BYTES = 256 * 1024;
/** Characters the page keeps of a long-running follow; older output is dropped from view (and can be loaded again). */
const LOG_KEEP_CHARS = 2_000_000;

interface Attempt {
  n: number;
  startedAt: number | null;
  endedAt: number | null;
  outcome: string;
  message: string;
}

/** The job's attempts, read from its events ("attempt 2 started", "attempt 2 exited with code 1…"). */
function attemptsOf(job: Job): Attempt[] {
  const out: Attempt[] = [];
  for (let n = 1; n <= job.attempt; n++) {
    const mine = job.events.filter((e) => new RegExp(`\\battempt ${n}\\b`).test(e.message));
    const started = mine.find((e) => e.type === "Started");
    const ended = [...mine].reverse().find((e) => e.type !== "Started" && e.type !== "Scheduled");
    const current = n === job.attempt;
    out.push({
      n,
      startedAt: started?.time ?? (current ? job.startedAt : null),
      endedAt: ended?.time ?? (current ? job.finishedAt : null),
      outcome: ended?.type ?? (current ? job.phase : "—"),
      message: ended?.message ?? (current ? (job.message ?? "") : ""),
    });
  }
  return out;
}

export default function JobPage({ params }: PageProps) {
  const id = params.id ?? "";
  const [tab] = useQueryParam("tab", "overview");
  // Refreshes while the job can still change; an ended job stays as it is.
  const [ended, setEnded] = useState(false);
  const job = useApi(() => api.getJob(id), [id], { refreshMs: ended ? undefined : LIVE_MS, live: { topics: ["jobs"], match: (e) => e.kind === "job" && e.id === id } });
  const active = job.data ? ACTIVE_PHASES.includes(job.data.phase) : true;
  useEffect(() => setEnded(!active), [active]);

  if (job.data === undefined) {
    return (
      <>
        <PageHeader title={`Job ${id}`} help="jobs" />
        {job.error ? <ErrorNotice error={job.error} /> : <Loading what="Loading the job" />}
      </>
    );
  }
  const j = job.data;
  return (
    <>
      <PageHeader title={j.name} help="jobs">
        {j.runId ? (
          <Link to={`/runs/${seg(j.runId)}`} className="button">
            Open its run
          </Link>
        ) : null}
        <ConfirmButton
          label="Cancel job"
          danger
          disabled={!active}
          question={
            <>
              Cancel job <strong>{j.name}</strong> (<span className="mono">{j.id}</span>)? {j.phase === "QUEUED" ? "It leaves the queue at once." : "Its processes are stopped; its run ends as killed."}
            </>
          }
          onConfirm={async () => {
            await api.cancelJob(j.id);
            job.reload();
          }}
        />
      </PageHeader>
      <p className="job-header-meta">
        <StateBadge state={j.phase} />
        <span className="mono">{j.id}</span>
        <span>team {j.team}</span>
        <span>by {j.owner}</span>
        <span>{elapsedText(j, Date.now())}</span>
      </p>
      <ErrorNotice error={job.error} title="Refreshing failed" />
      <nav className="tabs" aria-label="Job sections">
        {TABS.map(([key, label]) => (
          <Link key={key} to={withQuery({ tab: key === "overview" ? undefined : key })} aria-current={tab === key ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      {tab === "logs" ? <JobLogs job={j} /> : tab === "spec" ? <JobSpec job={j} /> : <Overview job={j} />}
    </>
  );
}

function Overview({ job }: { job: Job }) {
  const attempts = attemptsOf(job);
  return (
    <>
      {job.phase === "QUEUED" && job.pending ? (
        <section className="panel" aria-label="Why pending">
          <PendingWhy pending={job.pending} />
        </section>
      ) : null}
      {job.message && job.phase !== "QUEUED" ? <p className={job.phase === "FAILED" ? "error-notice" : "hint"}>{job.message}</p> : null}
      <div className="grid">
        <section className="panel" aria-labelledby="job-summary">
          <h2 id="job-summary">Summary</h2>
          <dl className="kv">
            <dt>Phase</dt>
            <dd>
              <StateBadge state={job.phase} />
            </dd>
            <dt>Attempt</dt>
            <dd>
              {job.attempt} of {job.maxAttempts}
            </dd>
            <dt>Priority</dt>
            <dd>{job.priority}</dd>
            <dt>Asked for</dt>
            <dd>{requestText(job.request)}</dd>
            <dt>Allocated</dt>
            <dd>
              {job.allocation
                ? `${job.allocation.gpus.length ? `GPU ${job.allocation.gpus.join(", ")}` : "no GPU"}, ${job.allocation.cpus} CPU${job.allocation.cpus === 1 ? "" : "s"}, ${formatMiB(job.allocation.memoryMiB)}${job.allocation.executor ? ` on ${job.allocation.executor}` : ""}`
                : "—"}
            </dd>
            <dt>Submitted</dt>
            <dd>
              <Time ms={job.createdAt} />
            </dd>
            <dt>Started</dt>
            <dd>
              <Time ms={job.startedAt} />
            </dd>
            <dt>Finished</dt>
            <dd>
              <Time ms={job.finishedAt} />
            </dd>
            <dt>Exit code</dt>
            <dd>{job.exitCode ?? "—"}</dd>
            <dt>Experiment</dt>
            <dd>
              <Link to={`/experiments/${seg(job.experimentId)}`}>{job.spec.experiment ?? job.experimentId}</Link>
            </dd>
            <dt>Run</dt>
            <dd>{job.runId ? <Link to={`/runs/${seg(job.runId)}`}>{job.runId}</Link> : "— (made when the job starts)"}</dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="job-attempts">
          <h2 id="job-attempts">Attempts</h2>
          <table className="attempts-table">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Started</th>
                <th scope="col">Ended</th>
                <th scope="col">Outcome</th>
                <th scope="col">Log</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((a) => (
                <tr key={a.n}>
                  <td>{a.n}</td>
                  <td>
                    <Time ms={a.startedAt} />
                  </td>
                  <td>
                    <Time ms={a.endedAt} />
                  </td>
                  <td title={a.message}>
                    <StateBadge state={a.outcome} />
                    {a.message ? <div className="hint">{a.message}</div> : null}
                  </td>
                  <td>
                    <Link to={withQuery({ tab: "logs", attempt: String(a.n) })}>output</Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>
      <EventsSection id="job-events" events={job.events} />
    </>
  );
}

const utf8 = new TextEncoder();
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** A log as a terminal would show it: colour codes dropped, a line redrawn with \r (progress bars) shown as last drawn. */
export function terminalText(text: string): string {
  const lines = text.replace(ANSI, "").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const end = line.endsWith("\r") ? line.length - 1 : line.length;
    const cr = line.lastIndexOf("\r", end - 1);
    if (cr >= 0 || end < line.length) lines[i] = line.slice(cr + 1, end);
  }
  return lines.join("\n");
}

/**
 * The job's output: the end of the chosen attempt's log, then (the current attempt of a job that
 * has not ended) every new byte as the server streams it, until the job ends or the page closes.
 */
function JobLogs({ job }: { job: Job }) {
  const [attemptParam, setAttempt] = useQueryParam("attempt");
  const attempt = Math.min(Math.max(1, Number(attemptParam) || job.attempt), job.attempt);
  const following = attempt === job.attempt && ACTIVE_PHASES.includes(job.phase);
  const [text, setText] = useState("");
  const [start, setStart] = useState(0);
  const [status, setStatus] = useState<"loading" | "following" | "done">("loading");
  const [error, setError] = useState<unknown>(undefined);
  const [keepEnd, setKeepEnd] = useState(true);
  const pre = useRef<HTMLPreElement>(null);
  const shown = useMemo(() => terminalText(text), [text]);

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    setStatus("loading");
    setError(undefined);
    void (async () => {
      try {
        const page = await api.readJobLogPage(job.id, { attempt, limitBytes: LOG_PAGE_BYTES, signal });
        if (signal.aborted) return;
        let shown = page.text;
        let from = page.start;
        setText(shown);
        setStart(from);
        if (!following) {
          setStatus("done");
          return;
        }
        setStatus("following");
        for await (const chunk of api.followJobLogs(job.id, { offset: page.end, signal })) {
          shown += chunk;
          if (shown.length > LOG_KEEP_CHARS) {
            const cut = shown.length - LOG_KEEP_CHARS;
            from += utf8.encode(shown.slice(0, cut)).length;
            shown = shown.slice(cut);
            setStart(from);
          }
          setText(shown);
        }
        if (!signal.aborted) setStatus("done");
      } catch (err) {
        if (signal.aborted) return;
        setError(err);
        setStatus("done");
      }
    })();
    return () => controller.abort();
  }, [job.id, attempt, following]);

  useEffect(() => {
    if (keepEnd && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text, keepEnd]);

  const loadEarlier = async () => {
    try {
      const offset = Math.max(0, start - LOG_PAGE_BYTES);
      const page = await api.readJobLogPage(job.id, { attempt, offset, limitBytes: start - offset });
      setKeepEnd(false);
      setText((t) => page.text + t);
      setStart(page.start);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-labelledby="job-logs">
      <h2 id="job-logs" className="visually-hidden">
        Logs
      </h2>
      <div className="log-toolbar">
        <label>
          Attempt{" "}
          <select value={String(attempt)} onChange={(e) => setAttempt(Number(e.target.value) === job.attempt ? "" : e.target.value)}>
            {Array.from({ length: job.attempt }, (_, i) => i + 1).map((n) => (
              <option key={n} value={n}>
                {n}
                {n === job.attempt ? " (current)" : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input type="checkbox" checked={keepEnd} onChange={(e) => setKeepEnd(e.target.checked)} /> Keep the end in view
        </label>
        {start > 0 ? (
          <button type="button" onClick={() => void loadEarlier()}>
            Load earlier output ({Math.ceil(start / 1024)} KiB before)
          </button>
        ) : null}
        <a className="button" href={`/api/v1/jobs/${seg(job.id)}/logs?attempt=${attempt}&offset=0`} target="_blank" rel="noreferrer">
          Raw log
        </a>
        <span className="log-status" role="status" data-log-status={status}>
          {status === "loading" ? "Loading…" : status === "following" ? (job.phase === "QUEUED" ? "Waiting for the job to start; output appears here as it is written." : "Live: new output appears as it is written.") : "End of the output so far."}
        </span>
      </div>
      {error ? <ErrorNotice error={error} title="Reading the log failed" /> : null}
      <pre ref={pre} className="job-log" tabIndex={0} aria-label={`Output of attempt ${attempt}`} data-testid="job-log">
        {shown || (status === "loading" ? "" : following ? "" : "(no output)")}
      </pre>
    </section>
  );
}

function JobSpec({ job }: { job: Job }) {
  const spec = job.spec;
  const hp = Object.entries(spec.hyperparameters ?? {});
  const env = Object.keys(spec.env ?? {});
  return (
    <>
      <div className="grid">
        <section className="panel" aria-labelledby="spec-run">
          <h2 id="spec-run">What it runs</h2>
          <dl className="kv">
            <dt>Command</dt>
            <dd className="spec-command">
              <code>{(spec.command ?? []).join(" ")}</code>
            </dd>
            <dt>Working dir</dt>
            <dd className="mono">{spec.workingDir ?? "—"}</dd>
            <dt>Experiment</dt>
            <dd>{spec.experiment ?? "—"}</dd>
            <dt>Max runtime</dt>
            <dd>{spec.maxRuntime !== undefined ? `${String(spec.maxRuntime)} s` : "none"}</dd>
            <dt>Retry</dt>
            <dd>
              {spec.retry ? `${spec.retry.maxAttempts} attempt${spec.retry.maxAttempts === 1 ? "" : "s"}${spec.retry.retryOnExitCodes.length ? ` (again on exit ${spec.retry.retryOnExitCodes.join(", ")})` : ""}` : "—"}
            </dd>
            <dt>Checkpoint dir</dt>
            <dd className="mono">{spec.checkpointDir ?? "—"}</dd>
            <dt>Environment</dt>
            <dd>{env.length ? env.join(", ") : "—"}</dd>
            <dt>Datasets</dt>
            <dd>{spec.datasets?.length ? spec.datasets.map((d) => d.name).join(", ") : "—"}</dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="spec-hp">
          <h2 id="spec-hp">Hyperparameters</h2>
          {hp.length === 0 ? (
            <Empty>None.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {hp.map(([k, v]) => (
                  <tr key={k}>
                    <td>{k}</td>
                    <td>{String(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <h2>As stored</h2>
      <p className="hint">Environment values are secrets: the API shows them as ****.</p>
      <pre tabIndex={0} aria-label="The job's spec as JSON">
        {JSON.stringify(spec, null, 2)}
      </pre>
    </>
  );
}
