// Workspaces: the user's Jupyter servers (and, for team admins with ?all=1, every one of their
// teams') with state, owner, environment and idle time; start, stop and delete behind a
// confirmation; a new one from an environment of the catalog. Refreshes while open.
import { useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, navigate, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import { useSession } from "../session.tsx";
import { formatDuration } from "./jobs.tsx";
import "./jobs.css";

export type Workspace = Awaited<ReturnType<typeof api.getWorkspace>>;

export const ACTIVE_WORKSPACE_PHASES: readonly string[] = ["PENDING", "STARTING", "RUNNING", "STOPPING"];
const LIVE_MS = 3000;

/** How long since the workspace was last used, and when it will be stopped for want of use. */
export function idleText(w: Workspace, now: number): string {
  if (w.phase !== "RUNNING") return "—";
  const idle = w.lastActivityAt !== null ? `idle ${formatDuration(now - w.lastActivityAt)}` : "not used yet";
  return w.idleStopAt !== null ? `${idle}; stops in ${formatDuration(w.idleStopAt - now)} unless used` : idle;
}

/**
 * Opens the workspace's Jupyter in a new tab: a one-time link (2 minutes, once) the server makes,
 * which becomes a cookie of that workspace's path only.
 */
export function OpenWorkspaceButton({ workspace, className = "primary" }: { workspace: Workspace; className?: string }) {
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const open = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const { url } = await api.openWorkspace(workspace.id);
      const target = new URL(url, window.location.origin);
      // Only a web address: a link from the server is still never a script.
      if (target.protocol !== "http:" && target.protocol !== "https:") throw new Error(`the server's link is not a web address (${target.protocol})`);
      window.open(target.href, "_blank", "noopener,noreferrer");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className={className} disabled={busy || workspace.phase !== "RUNNING"} onClick={() => void open()} aria-label={`Open ${workspace.name} in Jupyter`}>
        {busy ? "Opening…" : "Open"}
      </button>
      <ErrorNotice error={error} />
    </>
  );
}

/** Start, stop and delete, each behind a confirmation naming the workspace. */
export function WorkspaceActions({ workspace, onChange, afterDelete }: { workspace: Workspace; onChange: () => void; afterDelete?: () => void }) {
  const w = workspace;
  const active = ACTIVE_WORKSPACE_PHASES.includes(w.phase);
  return (
    <div className="ws-actions">
      {active ? (
        <ConfirmButton
          label="Stop"
          question={
            <>
              Stop workspace <strong>{w.name}</strong>? Its kernels end; files in its home folder stay, and it can be started again.
            </>
          }
          disabled={w.phase === "STOPPING"}
          onConfirm={async () => {
            await api.stopWorkspace(w.id);
            onChange();
          }}
        />
      ) : (
        <ConfirmButton
          label="Start"
          question={
            <>
              Start workspace <strong>{w.name}</strong> again on profile {w.profile}? It draws on team {w.team}'s quota while it runs.
            </>
          }
          onConfirm={async () => {
            await api.startWorkspace(w.id);
            onChange();
          }}
        />
      )}
      <ConfirmButton
        label="Delete"
        danger
        question={
          <>
            Delete workspace <strong>{w.name}</strong> and its home folder? This cannot be undone; runs it recorded stay.
          </>
        }
        onConfirm={async () => {
          await api.deleteWorkspace(w.id);
          (afterDelete ?? onChange)();
        }}
      />
    </div>
  );
}

function CreateWorkspace({ onCreated }: { onCreated: (w: Workspace) => void }) {
  const session = useSession();
  const envs = useApi(() => api.listEnvironments(), []);
  const profiles = useApi(() => api.listProfiles(), []);
  const [name, setName] = useState("");
  const [environment, setEnvironment] = useState("");
  const [profile, setProfile] = useState("");
  const teams = session.teams.filter((t) => t.role !== "viewer").map((t) => t.team);
  // With several teams the server needs to know which: the first is chosen until the user picks.
  const [team, setTeam] = useState(teams.length > 1 ? teams[0]! : "");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.createWorkspace({ ...(name ? { name } : {}), ...(environment ? { environment } : {}), ...(profile ? { profile } : {}), ...(team ? { team } : {}) });
      onCreated(created);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="panel create-workspace" onSubmit={(e) => void submit(e)} aria-labelledby="create-workspace">
      <h2 id="create-workspace" className="visually-hidden">
        New workspace
      </h2>
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="optional, e.g. churn-eda" pattern="[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" />
      </label>
      <label>
        Environment
        <select value={environment} onChange={(e) => setEnvironment(e.target.value)}>
          <option value="">the server's Python</option>
          {(envs.data ?? []).map((e) => (
            <option key={e.ref} value={e.ref}>
              {e.ref}
              {e.description ? ` — ${e.description}` : ""}
              {e.built ? "" : " (built on first use)"}
            </option>
          ))}
        </select>
      </label>
      <label>
        Profile
        <select value={profile} onChange={(e) => setProfile(e.target.value)}>
          <option value="">default</option>
          {(profiles.data ?? []).map((p) => (
            <option key={p.name} value={p.name}>
              {p.name} ({p.gpus} GPU, {p.cpus} CPU)
            </option>
          ))}
        </select>
      </label>
      {teams.length > 1 ? (
        <label>
          Team
          <select value={team} onChange={(e) => setTeam(e.target.value)}>
            {teams.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      ) : null}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create workspace"}
      </button>
      <ErrorNotice error={error ?? envs.error} />
    </form>
  );
}

export default function WorkspacesPage(_props: PageProps) {
  const session = useSession();
  const [all, setAll] = useQueryParam("all");
  const [creating, setCreating] = useQueryParam("new");
  const list = useApi(() => api.listWorkspaces(all === "1"), [all], { refreshMs: LIVE_MS, live: { topics: ["workspaces"] } });
  const teamAdmin = session.platformAdmin || session.teams.some((t) => t.role === "admin");
  const now = Date.now();
  return (
    <>
      <PageHeader title="Workspaces" help="workspaces">
        <button type="button" className="primary" aria-expanded={creating === "1"} onClick={() => setCreating(creating === "1" ? "" : "1")}>
          New workspace
        </button>
      </PageHeader>
      {creating === "1" ? <CreateWorkspace onCreated={(w) => navigate(`/workspace/${seg(w.id)}`)} /> : null}
      {teamAdmin ? (
        <p>
          <label>
            <input type="checkbox" checked={all === "1"} onChange={(e) => setAll(e.target.checked ? "1" : "")} /> Every workspace of my teams (team admins)
          </label>
        </p>
      ) : null}
      <ErrorNotice error={list.error} />
      {list.data === undefined ? (
        list.error ? null : <Loading what="Loading workspaces" />
      ) : list.data.length === 0 ? (
        <Empty>
          No workspaces yet. Create one here or with <code>paved workspace create</code>.
        </Empty>
      ) : (
        <table className="workspaces-table">
          <thead>
            <tr>
              <th scope="col">Workspace</th>
              <th scope="col">State</th>
              <th scope="col">Owner</th>
              <th scope="col">Team</th>
              <th scope="col">Environment</th>
              <th scope="col">Profile</th>
              <th scope="col">Idle</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {list.data.map((w) => (
              <tr key={w.id} data-workspace={w.id}>
                <td>
                  <Link to={`/workspace/${seg(w.id)}`}>{w.name}</Link>
                  <div className="hint">experiment {w.experiment}</div>
                </td>
                <td>
                  <StateBadge state={w.phase} />
                  {w.message && w.phase === "FAILED" ? <div className="hint">{w.message}</div> : null}
                </td>
                <td>{w.owner}</td>
                <td>{w.team}</td>
                <td>{w.environment ?? "server's Python"}</td>
                <td>{w.profile}</td>
                <td>{idleText(w, now)}</td>
                <td>
                  <Time ms={w.createdAt} />
                </td>
                <td>
                  <div className="ws-actions">
                    {w.phase === "RUNNING" ? <OpenWorkspaceButton workspace={w} className="" /> : null}
                    <WorkspaceActions workspace={w} onChange={list.reload} />
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
