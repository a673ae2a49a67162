// Deployments of the user's teams: each with its model, versions, state and live traffic split,
// filtered by model, environment and state (in the URL), refreshed while the page is open.
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { Deployment } from "../../../src/client/types.ts";
import { modelPath, versionPath } from "./models.tsx";
import "./models.css";

/** How often pages showing deployments ask again while the event stream (live.ts) is down. */
export const LIVE_MS = 1_500;

export const ACTIVE_PHASES = new Set(["Progressing", "Paused"]);

/** The split now: which versions get what share of the traffic (shadow: the candidate gets a copy, not a share). */
export function trafficShares(d: Deployment): { stable: { version: string; weight: number } | null; candidate: { version: string; weight: number } | null; shadow: boolean } {
  const s = d.status;
  const active = ACTIVE_PHASES.has(s.phase);
  const shadow = d.spec.strategy === "shadow" && active;
  if (!active) {
    // Finished: the version that serves takes everything (the new one when it succeeded, stable otherwise).
    const serving = s.phase === "Succeeded" ? d.spec.version : s.stableVersion;
    return { stable: serving ? { version: serving, weight: 100 } : null, candidate: null, shadow: false };
  }
  const weight = shadow ? 0 : s.canaryWeight;
  return {
    stable: s.stableVersion ? { version: s.stableVersion, weight: 100 - weight } : null,
    candidate: { version: d.spec.version, weight: s.stableVersion ? weight : 100 },
    shadow,
  };
}

/** The traffic split as a bar (one segment per version) with a legend that says it in words. */
export function TrafficSplit({ deployment: d, large = false }: { deployment: Deployment; large?: boolean }) {
  const { stable, candidate, shadow } = trafficShares(d);
  const label = [stable ? `version ${stable.version}: ${stable.weight}%` : null, candidate ? `version ${candidate.version}: ${shadow ? "shadow copy" : `${candidate.weight}%`}` : null].filter(Boolean).join(", ");
  return (
    <div className="traffic">
      <div className={`split${large ? " large" : ""}`} role="img" aria-label={`Traffic split: ${label || "no traffic"}`}>
        {stable && stable.weight > 0 ? (
          <span className="split-segment stable" style={{ width: `${stable.weight}%` }}>
            {stable.weight >= 12 ? `v${stable.version} ${stable.weight}%` : ""}
          </span>
        ) : null}
        {candidate && candidate.weight > 0 ? (
          <span className="split-segment candidate" style={{ width: `${candidate.weight}%` }}>
            {candidate.weight >= 12 ? `v${candidate.version} ${candidate.weight}%` : ""}
          </span>
        ) : null}
      </div>
      <div className="split-legend" data-testid="split-legend">
        {stable ? (
          <span>
            <span className="swatch stable" aria-hidden="true" />
            {candidate === null ? "serving" : d.spec.strategy === "ab" ? "A" : "stable"} v{stable.version}: {stable.weight}%
          </span>
        ) : null}
        {candidate ? (
          <span>
            <span className="swatch candidate" aria-hidden="true" />
            {d.spec.strategy === "ab" ? "B" : d.spec.strategy === "shadow" ? "shadow" : "new"} v{candidate.version}: {shadow ? "a copy of every request" : `${candidate.weight}%`}
          </span>
        ) : null}
      </div>
    </div>
  );
}

export function deploymentPath(id: string): string {
  return `/deployments/${seg(id)}`;
}

const PHASES = ["Progressing", "Paused", "Succeeded", "RolledBack", "Failed"];

export default function DeploymentsPage(_props: PageProps) {
  const [model, setModel] = useQueryParam("model");
  const [environment, setEnvironment] = useQueryParam("environment");
  const [phase, setPhase] = useQueryParam("phase");
  const list = useApi(() => api.listDeployments({ limit: 200, ...(model ? { model } : {}), ...(environment ? { environment } : {}) }), [model, environment], { live: { topics: ["deployments"] }, refreshMs: LIVE_MS });
  const shown = (list.data ?? []).filter((d) => !phase || d.status.phase === phase);
  return (
    <>
      <PageHeader title="Deployments" help="deployments" />
      <div className="toolbar" role="search">
        <div className="field">
          <label htmlFor="deployments-model">Model</label>
          <input id="deployments-model" value={model} onChange={(e) => setModel(e.target.value.trim())} />
        </div>
        <div className="field">
          <label htmlFor="deployments-environment">Environment</label>
          <input id="deployments-environment" value={environment} onChange={(e) => setEnvironment(e.target.value.trim())} placeholder="production" />
        </div>
        <div className="field">
          <label htmlFor="deployments-phase">State</label>
          <select id="deployments-phase" value={phase} onChange={(e) => setPhase(e.target.value)}>
            <option value="">any</option>
            {PHASES.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice error={list.error} />
      {list.data === undefined ? (
        list.error ? null : <Loading what="Loading deployments" />
      ) : shown.length === 0 ? (
        <Empty>{list.data.length ? "No deployment matches these filters." : "No deployments yet: deploy a version with `paved deploy <model>@<version>`."}</Empty>
      ) : (
        <table>
          <caption className="hint">Newest first; refreshed live.</caption>
          <thead>
            <tr>
              <th scope="col">Deployment</th>
              <th scope="col">Model</th>
              <th scope="col">Environment</th>
              <th scope="col">Strategy</th>
              <th scope="col">Versions</th>
              <th scope="col">State</th>
              <th scope="col">Traffic split</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((d) => (
              <tr key={d.id}>
                <td>
                  <Link to={deploymentPath(d.id)}>{d.id}</Link>
                </td>
                <td>
                  <Link to={modelPath(d.spec.model)}>{d.spec.model}</Link>
                </td>
                <td>{d.spec.environment}</td>
                <td>{d.spec.strategy}</td>
                <td>
                  {d.status.stableVersion && d.status.stableVersion !== d.spec.version ? (
                    <>
                      <Link to={versionPath(d.spec.model, d.status.stableVersion)}>v{d.status.stableVersion}</Link>
                      {" → "}
                    </>
                  ) : null}
                  <Link to={versionPath(d.spec.model, d.spec.version)}>v{d.spec.version}</Link>
                </td>
                <td>
                  <StateBadge state={d.status.phase} />
                </td>
                <td>
                  <TrafficSplit deployment={d} />
                </td>
                <td>
                  <Time ms={d.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
