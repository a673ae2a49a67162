// The job queue: every job of the user's teams, newest first, filtered by phase and team (both in
// the URL); each queued job says why it waits and what would let it start. Refreshes while open.
import { Fragment, type ReactNode } from "react";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { useSession } from "../session.tsx";
import "./jobs.css";

export type Job = Awaited<ReturnType<typeof api.getJob>>;
export type Pending = NonNullable<Job["pending"]>;

export const JOB_PHASES = ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export const ACTIVE_PHASES: readonly string[] = ["QUEUED", "STARTING", "RUNNING"];
/** How often pages showing changing jobs ask again while the live event stream is down. */
export const LIVE_MS = 2000;

/** "1h 2m", "3m 4s", "5s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function formatMiB(mib: number): string {
  return mib >= 1024 ? `${Math.round((mib / 1024) * 10) / 10} GiB` : `${mib} MiB`;
}

/** What a job asks for, in a few words: its profile or raw resources. */
export function requestText(request: Job["request"]): string {
  const parts = [`${request.gpus} GPU${request.gpus === 1 ? "" : "s"}${request.gpuType ? ` (${request.gpuType})` : ""}`, `${request.cpus} CPU${request.cpus === 1 ? "" : "s"}`, formatMiB(request.memoryMiB)];
  return `${request.profile ? `${request.profile}: ` : ""}${parts.join(", ")}${request.executor ? ` on ${request.executor}` : ""}`;
}

/** How long a job has waited, run, or ran. */
export function elapsedText(job: Job, now: number): string {
  if (job.phase === "QUEUED") return `waiting ${formatDuration(now - job.createdAt)}`;
  if (job.startedAt === null) return "—";
  return `${job.finishedAt === null ? "running " : ""}${formatDuration((job.finishedAt ?? now) - job.startedAt)}`;
}

const WHAT = { gpu: "GPUs", cpu: "CPUs", memory: "memory" } as const;

function Holder({ holder }: { holder: { jobId: string | null; name: string; team?: string | undefined } }) {
  if (holder.jobId === null) return <span>{holder.name}</span>;
  return (
    <Link to={`/jobs/${seg(holder.jobId)}`}>
      {holder.name} <span className="mono">({holder.jobId})</span>
    </Link>
  );
}

function Holders({ holders }: { holders: { jobId: string | null; name: string; team?: string | undefined; amount?: number }[] }) {
  return (
    <>
      {holders.map((h, i) => (
        <Fragment key={`${h.jobId ?? h.name}-${i}`}>
          {i > 0 ? ", " : ""}
          <Holder holder={h} />
          {h.amount !== undefined ? `: ${h.amount}` : ""}
        </Fragment>
      ))}
    </>
  );
}

/**
 * Why a queued job has not started (the server's reason, then what holds it back, structured) and
 * what would let it start: the quota command, the jobs to wait for, or a smaller request.
 */
export function PendingWhy({ pending }: { pending: Pending }) {
  const fixes: { key: string; node: ReactNode }[] = [];
  if (pending.backend) {
    fixes.push({ key: "backend", node: <>The {pending.backend.name} backend cannot be reached; Paved keeps trying, and the job starts when it answers.</> });
  }
  if (pending.quota) {
    const q = pending.quota;
    fixes.push({
      key: "quota",
      node: (
        <>
          Team <strong>{q.team}</strong>'s quota of {q.resource}
          {q.gpuType ? ` (${q.gpuType})` : ""}: {q.used} used of {q.limit}, this job needs {q.requested}
          {q.by.length ? (
            <>
              {" "}
              (held by <Holders holders={q.by} />)
            </>
          ) : null}
          . A platform admin can raise it: <code>{q.fix}</code>
        </>
      ),
    });
  }
  if (pending.behind) {
    const b = pending.behind;
    fixes.push({
      key: "behind",
      node: (
        <>
          It waits behind a higher-priority job, <Holder holder={b} />, which waits for {b.quota ? "the team's quota of " : ""}
          {WHAT[b.resource]}. Submit with a higher <code>priority</code> to go before it, or wait.
        </>
      ),
    });
  }
  for (const r of pending.resources) {
    fixes.push({
      key: `resource-${r.resource}`,
      node: (
        <>
          Needs {r.requested} {r.resource === "memory" ? "MiB of memory" : WHAT[r.resource]}: {r.free} of {r.total} free
          {r.heldBy.length ? (
            <>
              , held by <Holders holders={r.heldBy} />
            </>
          ) : null}
          . Wait for {r.heldBy.length === 1 ? "that job" : "those jobs"} to end, cancel one of yours, or resubmit asking for at most {r.free}.
        </>
      ),
    });
  }
  if (pending.preempting?.length) {
    fixes.push({
      key: "preempting",
      node: (
        <>
          Preempting <Holders holders={pending.preempting} /> to make room: {pending.preempting.length === 1 ? "it gets" : "they get"} SIGTERM and a grace period to checkpoint.
        </>
      ),
    });
  }
  return (
    <div className="pending-why">
      <p className="pending-reason">
        <strong>Why pending: </strong>
        {pending.reason || "waiting for the scheduler's next pass"}
      </p>
      {fixes.length ? (
        <ul className="pending-fixes" aria-label="What would let it start">
          {fixes.map((f) => (
            <li key={f.key}>{f.node}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export default function JobsPage(_props: PageProps) {
  const session = useSession();
  const [phase, setPhase] = useQueryParam("phase");
  const [team, setTeam] = useQueryParam("team");
  const [name, setName] = useQueryParam("q");
  const jobs = useApi(() => api.listJobs({ phase: phase || undefined, limit: 500 }), [phase], { refreshMs: LIVE_MS, live: { topics: ["jobs"] } });
  const now = Date.now();
  const all = jobs.data ?? [];
  const teams = [...new Set([...session.teams.map((t) => t.team), ...all.map((j) => j.team)])].sort();
  const needle = name.trim().toLowerCase();
  const shown = all.filter((j) => (!team || j.team === team) && (!needle || j.name.toLowerCase().includes(needle) || j.id.toLowerCase().includes(needle)));
  const queued = shown.filter((j) => j.phase === "QUEUED").length;
  const running = shown.filter((j) => j.phase === "RUNNING" || j.phase === "STARTING").length;

  return (
    <>
      <PageHeader title="Jobs" help="jobs">
        <Link to="/compute" className="button">
          Compute
        </Link>
      </PageHeader>
      <form className="job-filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <label>
          Phase{" "}
          <select value={phase} onChange={(e) => setPhase(e.target.value)}>
            <option value="">all</option>
            {JOB_PHASES.map((p) => (
              <option key={p} value={p}>
                {p.toLowerCase()}
              </option>
            ))}
          </select>
        </label>
        {teams.length > 1 ? (
          <label>
            Team{" "}
            <select value={team} onChange={(e) => setTeam(e.target.value)}>
              <option value="">all my teams</option>
              {teams.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <label>
          Name or id <input type="search" value={name} onChange={(e) => setName(e.target.value)} placeholder="train-" />
        </label>
        <p className="queue-summary" aria-live="polite">
          <strong>{queued}</strong> queued · <strong>{running}</strong> running · {shown.length} shown
        </p>
      </form>
      <ErrorNotice error={jobs.error} />
      {jobs.data === undefined ? (
        jobs.error ? null : <Loading what="Loading jobs" />
      ) : shown.length === 0 ? (
        <Empty>
          No jobs{phase ? ` ${phase.toLowerCase()}` : ""}
          {team ? ` in team ${team}` : ""}. Submit one with <code>paved train</code> or <code>paved apply -f job.yaml</code>.
        </Empty>
      ) : (
        <table className="jobs-table">
          <caption className="visually-hidden">Jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Phase</th>
              <th scope="col">Team</th>
              <th scope="col">Owner</th>
              <th scope="col">Resources</th>
              <th scope="col">Submitted</th>
              <th scope="col">Time</th>
              <th scope="col">Run</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((job) => (
              <Fragment key={job.id}>
                <tr className={job.pending ? "has-pending" : undefined} data-job={job.id}>
                  <td>
                    <Link to={`/jobs/${seg(job.id)}`}>{job.name}</Link>
                    <div className="hint mono">{job.id}</div>
                  </td>
                  <td>
                    <StateBadge state={job.phase} />
                    {job.maxAttempts > 1 ? <div className="hint">attempt {job.attempt} of {job.maxAttempts}</div> : null}
                  </td>
                  <td>{job.team}</td>
                  <td>{job.owner}</td>
                  <td>{requestText(job.request)}</td>
                  <td>
                    <Time ms={job.createdAt} />
                  </td>
                  <td>{elapsedText(job, now)}</td>
                  <td>{job.runId ? <Link to={`/runs/${seg(job.runId)}`}>run</Link> : "—"}</td>
                </tr>
                {job.phase === "QUEUED" && job.pending ? (
                  <tr className="pending-row">
                    <td colSpan={8}>
                      <PendingWhy pending={job.pending} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
