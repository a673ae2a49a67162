// One workspace: what it is and where it came from, why it waits (its job's pending reason), the
// link to its Jupyter (/workspaces/<id>/, Paved's proxy), its sessions' ready times and its events.
import { api } from "../api.ts";
import { ErrorNotice, EventsSection, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, navigate, seg } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { PendingWhy, formatDuration, type Pending } from "./jobs.tsx";
import { ACTIVE_WORKSPACE_PHASES, OpenWorkspaceButton, WorkspaceActions, idleText } from "./workspaces.tsx";
import "./jobs.css";

/** The job's pending explanation, when the workspace's `pending` has its shape. */
function asPending(value: unknown): Pending | undefined {
  if (!value || typeof value !== "object") return undefined;
  const p = value as Partial<Pending>;
  return typeof p.reason === "string" && Array.isArray(p.resources) ? (p as Pending) : undefined;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Math.round(v * 10) / 10} ${units[i]}`;
}

export default function WorkspacePage({ params }: PageProps) {
  const id = params.id ?? "";
  const ws = useApi(() => api.getWorkspace(id), [id], { refreshMs: 3000, live: { topics: ["workspaces"], match: (e) => e.kind === "workspace" && e.id === id } });
  const stats = useApi(() => api.workspaceStats(), []);
  if (ws.data === undefined) {
    return (
      <>
        <PageHeader title={`Workspace ${id}`} help="workspaces" />
        {ws.error ? <ErrorNotice error={ws.error} /> : <Loading what="Loading the workspace" />}
      </>
    );
  }
  const w = ws.data;
  const pending = asPending(w.pending);
  const proxy = `/workspaces/${seg(w.id)}/`;
  const profileStats = stats.data?.profiles.find((p) => p.profile === w.profile);
  const now = Date.now();
  return (
    <>
      <PageHeader title={w.name} help="workspaces">
        <OpenWorkspaceButton workspace={w} />
        <WorkspaceActions workspace={w} onChange={ws.reload} afterDelete={() => navigate("/workspaces")} />
      </PageHeader>
      <p className="job-header-meta">
        <StateBadge state={w.phase} />
        <span className="mono">{w.id}</span>
        <span>team {w.team}</span>
        <span>owner {w.owner}</span>
        <span>{idleText(w, now)}</span>
      </p>
      <ErrorNotice error={ws.error} title="Refreshing failed" />
      {pending && ACTIVE_WORKSPACE_PHASES.includes(w.phase) ? (
        <section className="panel" aria-label="Why pending">
          <PendingWhy pending={pending} />
        </section>
      ) : null}
      {w.message ? <p className={w.phase === "FAILED" ? "error-notice" : "hint"}>{w.message}</p> : null}
      <div className="grid">
        <section className="panel" aria-labelledby="ws-details">
          <h2 id="ws-details">Details</h2>
          <dl className="kv">
            <dt>Jupyter</dt>
            <dd>
              {w.phase === "RUNNING" ? (
                <>
                  <a href={proxy} target="_blank" rel="noreferrer">
                    {proxy}
                  </a>{" "}
                  <span className="hint">(the Open button signs this browser in to it)</span>
                </>
              ) : (
                <span className="mono">{proxy}</span>
              )}
            </dd>
            <dt>Profile</dt>
            <dd>{w.profile}</dd>
            <dt>Environment</dt>
            <dd>{w.environment ?? "the server's Python"}</dd>
            <dt>Experiment</dt>
            <dd>
              <Link to={`/experiments/${seg(w.experimentId)}`}>{w.experiment}</Link>
            </dd>
            <dt>From run</dt>
            <dd>{w.fromRun ? <Link to={`/runs/${seg(w.fromRun)}`}>{w.fromRun}</Link> : "—"}</dd>
            <dt>From model</dt>
            <dd>{w.fromModel ?? "—"}</dd>
            <dt>Shared with</dt>
            <dd>{w.sharedWith.length ? w.sharedWith.join(", ") : "nobody"}</dd>
            <dt>Job</dt>
            <dd>{w.jobId ? <Link to={`/jobs/${seg(w.jobId)}`}>{w.jobId}</Link> : "—"}</dd>
            <dt>GPUs</dt>
            <dd>{w.gpus.length ? w.gpus.join(", ") : "none"}</dd>
            <dt>Created</dt>
            <dd>
              <Time ms={w.createdAt} />
            </dd>
          </dl>
        </section>
        <section className="panel" aria-labelledby="ws-stats">
          <h2 id="ws-stats">Session and use</h2>
          <dl className="kv">
            <dt>Session</dt>
            <dd>{w.session}</dd>
            <dt>Asked for</dt>
            <dd>
              <Time ms={w.requestedAt} />
            </dd>
            <dt>Ready</dt>
            <dd>
              {w.readyAt !== null ? (
                <>
                  <Time ms={w.readyAt} /> {w.readyMs !== null ? `(after ${formatDuration(w.readyMs)})` : ""}
                </>
              ) : (
                "—"
              )}
            </dd>
            <dt>Last used</dt>
            <dd>
              <Time ms={w.lastActivityAt} />
            </dd>
            <dt>Idle stop</dt>
            <dd>
              <Time ms={w.idleStopAt} />
            </dd>
            <dt>Home folder</dt>
            <dd>{formatBytes(w.homeBytes)}</dd>
            <dt>Profile {w.profile}</dt>
            <dd>
              {profileStats
                ? `${profileStats.sessions} session${profileStats.sessions === 1 ? "" : "s"}; ready in ${profileStats.p50Ms !== null ? formatDuration(profileStats.p50Ms) : "—"} (median), ${profileStats.p95Ms !== null ? formatDuration(profileStats.p95Ms) : "—"} (p95); ${profileStats.fromPool} from the warm pool`
                : "no sessions yet"}
            </dd>
          </dl>
        </section>
      </div>
      <EventsSection id="ws-events" events={w.events} />
    </>
  );
}
