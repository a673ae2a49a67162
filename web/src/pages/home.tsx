// Home: what the signed-in user has going on (their newest runs, jobs, workspaces and deployments,
// each a link to its page) and where each of their models stands on the golden path: trained →
// registered → gated → canary → production, derived from the registry, the gate and the rollouts.
import type { ReactNode } from "react";
import { api } from "../api.ts";
import type { Deployment, GateStatus, Job, Model, ModelDetail, RunView, Workspace } from "../../../src/client/types.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import type { PageProps } from "../page-props.ts";
import { Link, seg, useQueryParam, withQuery } from "../router.tsx";
import { useSession } from "../session.tsx";
import "./admin.css";

/** How many of each kind the home page lists. */
const RECENT = 8;
/** Models whose golden path the page works out (three requests each). */
const MAX_MODELS = 20;
/** Live pages refresh on this period (no server-sent events feed exists yet). */
const REFRESH_MS = 5000;

/** A string as an MLflow filter literal: backslash escapes for the quote and the backslash. */
function filterLiteral(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export default function Home(_props: PageProps) {
  const session = useSession();
  return (
    <>
      <PageHeader title="Home" help="ui" />
      <p className="hint">
        Signed in as <strong>{session.name}</strong>
        {session.teams.length ? ` · ${session.teams.map((t) => `${t.team} (${t.role})`).join(", ")}` : " · not in any team yet"}
      </p>
      <GoldenPaths me={session.name} />
      <div className="grid home-grid">
        <RecentRuns me={session.name} />
        <RecentJobs me={session.name} />
        <RecentWorkspaces me={session.name} />
        <RecentDeployments me={session.name} />
      </div>
    </>
  );
}

function Section({ id, title, more, children }: { id: string; title: string; more?: { to: string; label: string }; children: ReactNode }) {
  return (
    <section className="panel home-section" aria-labelledby={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {more ? <Link to={more.to}>{more.label}</Link> : null}
      </div>
      {children}
    </section>
  );
}

function RecentRuns({ me }: { me: string }) {
  const runs = useApi(() => api.listRuns({ filter: `attributes.user_id = ${filterLiteral(me)}`, orderBy: "attributes.start_time DESC", limit: RECENT }), [me], { refreshMs: REFRESH_MS });
  return (
    <Section id="home-runs" title="My recent runs" more={{ to: "/runs", label: "All runs" }}>
      <ErrorNotice error={runs.error} />
      {runs.data === undefined ? (
        runs.error ? null : <Loading what="Loading runs" />
      ) : runs.data.length === 0 ? (
        <Empty>No runs yet. Start one with <code>paved train</code> or any MLflow script.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {runs.data.map((r: RunView) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/runs/${seg(r.id)}`}>{r.name || r.id}</Link>
                </td>
                <td>
                  <StateBadge state={r.status} />
                </td>
                <td>
                  <Time ms={r.startTime} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function RecentJobs({ me }: { me: string }) {
  const jobs = useApi(() => api.listJobs({ owner: "me", limit: RECENT }), [me], { refreshMs: REFRESH_MS });
  return (
    <Section id="home-jobs" title="My recent jobs" more={{ to: "/jobs", label: "The queue" }}>
      <ErrorNotice error={jobs.error} />
      {jobs.data === undefined ? (
        jobs.error ? null : <Loading what="Loading jobs" />
      ) : jobs.data.length === 0 ? (
        <Empty>No jobs yet. Submit one with <code>paved train</code> or <code>paved apply -f job.yaml</code>.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Team</th>
              <th scope="col">Phase</th>
              <th scope="col">Submitted</th>
            </tr>
          </thead>
          <tbody>
            {jobs.data.map((j: Job) => (
              <tr key={j.id}>
                <td>
                  <Link to={`/jobs/${seg(j.id)}`}>{j.name || j.id}</Link>
                </td>
                <td>{j.team}</td>
                <td>
                  <StateBadge state={j.phase} />
                </td>
                <td>
                  <Time ms={j.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function RecentWorkspaces({ me }: { me: string }) {
  const workspaces = useApi(async () => (await api.listWorkspaces()).sort((a, b) => b.createdAt - a.createdAt).slice(0, RECENT), [me], { refreshMs: REFRESH_MS });
  return (
    <Section id="home-workspaces" title="My workspaces" more={{ to: "/workspaces", label: "All workspaces" }}>
      <ErrorNotice error={workspaces.error} />
      {workspaces.data === undefined ? (
        workspaces.error ? null : <Loading what="Loading workspaces" />
      ) : workspaces.data.length === 0 ? (
        <Empty>No workspaces. Open a notebook with <code>paved workspace create</code>.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Workspace</th>
              <th scope="col">Owner</th>
              <th scope="col">Phase</th>
              <th scope="col">Profile</th>
            </tr>
          </thead>
          <tbody>
            {workspaces.data.map((w: Workspace) => (
              <tr key={w.id}>
                <td>
                  <Link to={`/workspace/${seg(w.id)}`}>{w.name || w.id}</Link>
                </td>
                <td>{w.owner === me ? "me" : w.owner}</td>
                <td>
                  <StateBadge state={w.phase} />
                </td>
                <td>{w.profile}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function RecentDeployments({ me }: { me: string }) {
  const deployments = useApi(() => api.listDeployments({ createdBy: "me", limit: RECENT }), [me], { refreshMs: REFRESH_MS });
  return (
    <Section id="home-deployments" title="My deployments" more={{ to: "/deployments", label: "All deployments" }}>
      <ErrorNotice error={deployments.error} />
      {deployments.data === undefined ? (
        deployments.error ? null : <Loading what="Loading deployments" />
      ) : deployments.data.length === 0 ? (
        <Empty>No deployments. Roll a model out with <code>paved deploy</code>.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Environment</th>
              <th scope="col">Phase</th>
              <th scope="col">Traffic</th>
            </tr>
          </thead>
          <tbody>
            {deployments.data.map((d: Deployment) => (
              <tr key={d.id}>
                <td>
                  <Link to={`/deployments/${seg(d.id)}`}>
                    {d.spec.model} v{d.spec.version}
                  </Link>
                </td>
                <td>{d.spec.environment}</td>
                <td>
                  <StateBadge state={d.status.phase} />
                </td>
                <td>{trafficOf(d)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function trafficOf(d: Deployment): string {
  const { stableVersion, canaryVersion, canaryWeight } = d.status;
  if (canaryVersion && canaryWeight > 0) return `v${canaryVersion} ${canaryWeight}%${stableVersion ? `, v${stableVersion} ${100 - canaryWeight}%` : ""}`;
  return stableVersion ? `v${stableVersion} 100%` : "—";
}

// ---- the golden path ----

export type StepState = "done" | "current" | "failed" | "todo";
export interface PathStep {
  name: "trained" | "registered" | "gated" | "canary" | "production";
  state: StepState;
  /** What the step's state means here, in words (the stepper's text). */
  detail: string;
  link?: string;
}

interface ModelPath {
  model: Model;
  version: string | null;
  steps: PathStep[];
  /** A version other than the newest that production serves. */
  productionVersion: string | null;
}

const STATE_WORDS: Record<StepState, string> = { done: "done", current: "in progress", failed: "failed", todo: "not yet" };

/** Where one version stands, from its summary, the gate status and the model's production deployments. */
export function goldenPath(model: ModelDetail, gate: GateStatus | undefined, deployments: Deployment[]): ModelPath {
  const latest = model.versions[0];
  const production = deployments.filter((d) => d.spec.environment === "production");
  const serving = production.find((d) => d.status.phase === "Succeeded")?.status.stableVersion ?? production.find((d) => d.status.stableVersion)?.status.stableVersion ?? null;
  if (!latest) {
    return {
      model,
      version: null,
      productionVersion: null,
      steps: [
        { name: "trained", state: "todo", detail: "no version yet" },
        { name: "registered", state: "todo", detail: "register a run's model" },
        { name: "gated", state: "todo", detail: "—" },
        { name: "canary", state: "todo", detail: "—" },
        { name: "production", state: "todo", detail: "—" },
      ],
    };
  }
  const v = latest.version;
  const versionLink = `/models/${seg(model.name)}/versions/${seg(v)}`;
  const trained: PathStep = latest.runId
    ? { name: "trained", state: "done", detail: "run", link: `/runs/${seg(latest.runId)}` }
    : { name: "trained", state: "done", detail: "outside a tracked run" };
  const registered: PathStep = { name: "registered", state: "done", detail: `version ${v}`, link: versionLink };
  const g = gate?.versions.find((x) => x.version === v);
  const gated: PathStep =
    g?.inProgress
      ? { name: "gated", state: "current", detail: `evaluation ${g.inProgress.phase.toLowerCase()}`, link: versionLink }
      : g?.gate === "passed"
        ? { name: "gated", state: "done", detail: "gate passed", link: versionLink }
        : g?.gate === "failed"
          ? { name: "gated", state: "failed", detail: "gate failed", link: versionLink }
          : { name: "gated", state: "todo", detail: "not evaluated" };
  // The newest production rollout of this version (the list is newest first).
  const rollout = production.find((d) => d.spec.version === v);
  let canary: PathStep;
  let prod: PathStep;
  if (!rollout) {
    canary = { name: "canary", state: "todo", detail: "not deployed" };
    prod = { name: "production", state: "todo", detail: serving ? `serves v${serving}` : "not serving" };
  } else {
    const link = `/deployments/${seg(rollout.id)}`;
    const phase = rollout.status.phase;
    if (phase === "Progressing" || phase === "Paused") {
      canary = { name: "canary", state: "current", detail: `${phase === "Paused" ? "paused at " : ""}${rollout.status.canaryWeight}% of traffic`, link };
      prod = { name: "production", state: "todo", detail: serving ? `serves v${serving}` : "not serving" };
    } else if (phase === "Succeeded") {
      canary = { name: "canary", state: "done", detail: rollout.spec.strategy === "canary" ? "steps passed" : rollout.spec.strategy, link };
      prod = rollout.status.stableVersion === v ? { name: "production", state: "done", detail: "serving 100%", link } : { name: "production", state: "todo", detail: serving ? `serves v${serving}` : "not serving" };
    } else {
      canary = { name: "canary", state: "failed", detail: phase === "RolledBack" ? "rolled back" : "failed", link };
      prod = { name: "production", state: "todo", detail: serving ? `serves v${serving}` : "not serving" };
    }
  }
  return { model, version: v, productionVersion: serving && serving !== v ? serving : null, steps: [trained, registered, gated, canary, prod] };
}

async function loadPaths(me: string, scope: string): Promise<{ paths: ModelPath[]; more: number }> {
  const models = (await api.listModels({ limit: 1000 })).filter((m) => scope === "teams" || m.user === me).sort((a, b) => b.updatedAt - a.updatedAt);
  const shown = models.slice(0, MAX_MODELS);
  const paths = await Promise.all(
    shown.map(async (m) => {
      const [detail, gate, deployments] = await Promise.all([
        api.getModel(m.name),
        api.getGateStatus(m.name).catch(() => undefined),
        api.listDeployments({ model: m.name, environment: "production", limit: 50 }).catch(() => [] as Deployment[]),
      ]);
      return goldenPath(detail, gate, deployments);
    }),
  );
  return { paths, more: models.length - shown.length };
}

function GoldenPaths({ me }: { me: string }) {
  const [scope] = useQueryParam("models", "mine");
  const paths = useApi(() => loadPaths(me, scope), [me, scope], { refreshMs: REFRESH_MS });
  return (
    <section className="panel" aria-labelledby="home-models">
      <div className="section-head">
        <h2 id="home-models">{scope === "teams" ? "My teams' models" : "My models"} on the golden path</h2>
        <nav className="scope-switch" aria-label="Whose models">
          <Link to={withQuery({ models: undefined })} aria-current={scope !== "teams" ? "page" : undefined}>
            Mine
          </Link>
          <Link to={withQuery({ models: "teams" })} aria-current={scope === "teams" ? "page" : undefined}>
            My teams'
          </Link>
        </nav>
      </div>
      <ErrorNotice error={paths.error} />
      {paths.data === undefined ? (
        paths.error ? null : <Loading what="Loading models" />
      ) : paths.data.paths.length === 0 ? (
        <Empty>
          {scope === "teams" ? "Your teams have no registered models yet." : "You have registered no models yet."} Register one from a run with{" "}
          <code>paved models register &lt;name&gt; runs:/&lt;run&gt;/model</code>.
        </Empty>
      ) : (
        <ul className="golden-paths">
          {paths.data.paths.map((p) => (
            <li key={p.model.name} className="golden-path">
              <div className="golden-path-model">
                <Link to={`/models/${seg(p.model.name)}`}>{p.model.name}</Link>
                <span className="hint">
                  {p.version ? ` version ${p.version}` : ""} · {p.model.team}
                  {p.productionVersion ? ` · production serves v${p.productionVersion}` : ""}
                </span>
              </div>
              <ol className="stepper" aria-label={`${p.model.name}: golden path`}>
                {p.steps.map((s) => (
                  <li key={s.name} className={`step step-${s.state}`}>
                    <span className="step-mark" aria-hidden="true">
                      {s.state === "done" ? "✓" : s.state === "failed" ? "✗" : s.state === "current" ? "●" : "○"}
                    </span>
                    <span className="step-name">{s.name}</span>
                    <span className="step-detail">
                      <span className="visually-hidden">{STATE_WORDS[s.state]}: </span>
                      {s.link ? <Link to={s.link}>{s.detail}</Link> : s.detail}
                    </span>
                  </li>
                ))}
              </ol>
            </li>
          ))}
        </ul>
      )}
      {paths.data && paths.data.more > 0 ? <p className="hint">and {paths.data.more} more: see Models.</p> : null}
    </section>
  );
}
