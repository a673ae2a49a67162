// One registered model: its versions with where each stands at the production gate, its aliases
// (set, move and remove them here; a gate's refusal shows as the API words it), its model card,
// description and tags, and the gate policy with its checks. The tab is in the URL (?tab=).
import { useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { ConfirmButton, Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useQueryParam, withQuery, useLocation } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { GatePolicy, GateStatus, ModelDetail } from "../../../src/client/types.ts";
import type { ChangeEvent } from "../live.ts";
import { AliasList, PRODUCTION_ALIAS, RegisterVersionForm, TagList, TagValue, formatNumber, versionPath } from "./models.tsx";
import "./models.css";

const TABS = [
  ["versions", "Versions"],
  ["aliases", "Aliases"],
  ["card", "Model card"],
  ["gate", "Gate policy"],
] as const;

const CARD_PREFIX = "model_card.";
const CARD_FIELDS: [string, string][] = [
  ["owner", "Owner"],
  ["intendedUse", "Intended use"],
  ["limitations", "Limitations"],
  ["license", "License"],
];

export default function ModelPage({ params }: PageProps) {
  const name = params.name!;
  const [tab] = useQueryParam("tab", "versions");
  const location = useLocation();
  const live = { topics: ["models"] as const, match: (e: ChangeEvent) => e.id === name || e.parent === name };
  const model = useApi(() => api.getModel(name), [name], { live, refreshMs: 10_000 });
  const gate = useApi(() => api.getGateStatus(name).catch(() => undefined), [name], { live, refreshMs: 10_000 });
  const reload = () => {
    model.reload();
    gate.reload();
  };
  return (
    <>
      <PageHeader title={name} help="registry">
        <Link to="/models">All models</Link>
        <Link to={`/deployments?model=${encodeURIComponent(name)}`}>Deployments</Link>
      </PageHeader>
      <ErrorNotice error={model.error} />
      {model.data === undefined ? (
        model.error ? null : <Loading what="Loading the model" />
      ) : (
        <>
          <Summary model={model.data} />
          <nav className="tabs" aria-label="Model sections">
            {TABS.map(([key, label]) => (
              <Link key={key} to={withQuery({ tab: key === "versions" ? undefined : key }, location)} aria-current={tab === key ? "page" : undefined}>
                {label}
              </Link>
            ))}
          </nav>
          {tab === "aliases" ? (
            <Aliases model={model.data} onChange={reload} />
          ) : tab === "card" ? (
            <Card model={model.data} />
          ) : tab === "gate" ? (
            <Gate name={name} />
          ) : (
            <Versions model={model.data} gate={gate.data} onChange={reload} />
          )}
        </>
      )}
    </>
  );
}

function Summary({ model }: { model: ModelDetail }) {
  return (
    <section className="panel" aria-label="Summary">
      {model.description ? <p className="description">{model.description}</p> : <p className="hint">No description.</p>}
      <dl className="kv">
        <dt>Team</dt>
        <dd>{model.team}</dd>
        <dt>Latest version</dt>
        <dd>{model.latestVersion ? <Link to={versionPath(model.name, model.latestVersion)}>v{model.latestVersion}</Link> : "—"}</dd>
        <dt>Aliases</dt>
        <dd>
          <AliasList aliases={model.aliases} model={model.name} linkVersions />
        </dd>
        <dt>Created by</dt>
        <dd>{model.user}</dd>
        <dt>Updated</dt>
        <dd>
          <Time ms={model.updatedAt} />
        </dd>
      </dl>
    </section>
  );
}

/** Where a version stands at the production gate, in words and colour. */
export function GateVerdict({ entry }: { entry: GateStatus["versions"][number] | undefined }) {
  if (!entry) return <span className="gate gate-none">not evaluated</span>;
  return (
    <span>
      <span className={`gate gate-${entry.gate}`}>{entry.gate === "passed" ? "gate passed" : entry.gate === "failed" ? "gate failed" : "no verdict"}</span>
      {entry.inProgress ? (
        <>
          {" "}
          <StateBadge state={entry.inProgress.phase} />
        </>
      ) : null}
    </span>
  );
}

function Versions({ model, gate, onChange }: { model: ModelDetail; gate: GateStatus | undefined; onChange: () => void }) {
  const byVersion = new Map(gate?.versions.map((v) => [v.version, v]));
  return (
    <>
      {model.versions.length === 0 ? (
        <Empty>No versions yet: register one from a run below.</Empty>
      ) : (
        <table>
          <caption className="hint">Versions, newest first; the gate column is what the production gate decides under the current policy.</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Production gate</th>
              <th scope="col">Aliases</th>
              <th scope="col">Source run</th>
              <th scope="col">Description</th>
              <th scope="col">Registered by</th>
              <th scope="col">Registered</th>
            </tr>
          </thead>
          <tbody>
            {model.versions.map((v) => (
              <tr key={v.version}>
                <td>
                  <Link to={versionPath(model.name, v.version)}>v{v.version}</Link>
                </td>
                <td>
                  <GateVerdict entry={byVersion.get(v.version)} />
                </td>
                <td>
                  <AliasList aliases={v.aliases} model={model.name} />
                </td>
                <td>{v.runId ? <Link to={`/runs/${seg(v.runId)}`}>{v.runId}</Link> : <span className="mono">{v.source}</span>}</td>
                <td className="description">{v.description ?? ""}</td>
                <td>{v.user}</td>
                <td>
                  <Time ms={v.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <section className="panel" aria-labelledby="register-version-title">
        <h2 id="register-version-title">Register a new version</h2>
        <RegisterVersionForm model={model.name} onRegistered={onChange} />
      </section>
    </>
  );
}

/**
 * Sets or moves an alias. Moving `production` passes the gate (the version's latest evaluation
 * under the current policy must have passed); the refusal is the API's GATE_FAILED, shown as is.
 */
export function AliasForm({ model, versions, fixedVersion, onChange }: { model: string; versions: string[]; fixedVersion?: string; onChange: () => void }) {
  const [alias, setAlias] = useState(PRODUCTION_ALIAS);
  const [version, setVersion] = useState(fixedVersion ?? versions[0] ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const set = await api.setModelAlias(model, alias.trim(), fixedVersion ?? version);
      setDone(`@${set.alias} now points at version ${set.version}.`);
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="Set an alias">
      <div className="field">
        <label htmlFor="alias-name">Alias</label>
        <input id="alias-name" value={alias} onChange={(e) => setAlias(e.target.value)} required list="alias-suggestions" />
        <datalist id="alias-suggestions">
          <option value={PRODUCTION_ALIAS} />
          <option value="staging" />
          <option value="champion" />
          <option value="challenger" />
        </datalist>
      </div>
      {fixedVersion === undefined ? (
        <div className="field">
          <label htmlFor="alias-version">Version</label>
          <select id="alias-version" value={version} onChange={(e) => setVersion(e.target.value)}>
            {versions.map((v) => (
              <option key={v} value={v}>
                v{v}
              </option>
            ))}
          </select>
        </div>
      ) : null}
      <button type="submit" className="primary" disabled={busy || !alias.trim() || !(fixedVersion ?? version)}>
        {busy ? "Setting…" : fixedVersion === undefined ? "Set alias" : `Point alias at v${fixedVersion}`}
      </button>
      {done ? (
        <p className="hint" role="status">
          {done}
        </p>
      ) : null}
      <ErrorNotice error={error} title="Alias not set" />
    </form>
  );
}

function Aliases({ model, onChange }: { model: ModelDetail; onChange: () => void }) {
  const aliases = Object.entries(model.aliases).sort(([a], [b]) => a.localeCompare(b));
  return (
    <>
      {aliases.length === 0 ? (
        <Empty>No aliases yet.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Alias</th>
              <th scope="col">Version</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {aliases.map(([alias, version]) => (
              <tr key={alias}>
                <td>
                  <span className={`alias${alias === PRODUCTION_ALIAS ? " production" : ""}`}>@{alias}</span>
                </td>
                <td>
                  <Link to={versionPath(model.name, version)}>v{version}</Link>
                </td>
                <td>
                  <ConfirmButton
                    label={`Remove @${alias}`}
                    danger
                    question={
                      <>
                        Remove the alias <strong>@{alias}</strong> of {model.name} (now on version {version})? Clients that load <span className="mono">models:/{model.name}@{alias}</span> will fail.
                      </>
                    }
                    onConfirm={async () => {
                      await api.deleteModelAlias(model.name, alias);
                      onChange();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <section className="panel" aria-labelledby="alias-form-title">
        <h2 id="alias-form-title">Set or move an alias</h2>
        <p className="hint">@{PRODUCTION_ALIAS} moves only to a version whose latest evaluation under the gate policy passed.</p>
        <AliasForm model={model.name} versions={model.versions.map((v) => v.version)} onChange={onChange} />
      </section>
    </>
  );
}

function Card({ model }: { model: ModelDetail }) {
  const card = Object.entries(model.tags).filter(([k]) => k.startsWith(CARD_PREFIX));
  const known = new Set(CARD_FIELDS.map(([k]) => k));
  const extra = card.filter(([k]) => !known.has(k.slice(CARD_PREFIX.length)));
  const other = Object.fromEntries(Object.entries(model.tags).filter(([k]) => !k.startsWith(CARD_PREFIX)));
  return (
    <div className="grid">
      <section className="panel" aria-labelledby="card-title">
        <h2 id="card-title">Model card</h2>
        <dl className="kv">
          <dt>Description</dt>
          <dd className="description">{model.description ?? "—"}</dd>
          {CARD_FIELDS.map(([key, label]) => {
            const value = model.tags[CARD_PREFIX + key];
            return (
              <div key={key} className="kv-row">
                <dt>{label}</dt>
                <dd>{value === undefined ? <span className="fail">missing</span> : <TagValue value={value} />}</dd>
              </div>
            );
          })}
          {extra.map(([key, value]) => (
            <div key={key} className="kv-row">
              <dt>{key.slice(CARD_PREFIX.length)}</dt>
              <dd>
                <TagValue value={value} />
              </dd>
            </div>
          ))}
        </dl>
        <p className="hint">
          The compliance check reads these from the model's <span className="mono">{CARD_PREFIX}*</span> tags; set them with <span className="mono">paved models tag {model.name} {CARD_PREFIX}owner=…</span>.
        </p>
      </section>
      <section className="panel" aria-labelledby="tags-title">
        <h2 id="tags-title">Tags</h2>
        <TagList tags={other} />
      </section>
    </div>
  );
}

/** A policy check as a line of what it bounds. */
export function describeCheck(check: GatePolicy["policy"]["checks"][number]): { what: string; bounds: [string, string][] } {
  const bounds: [string, string][] = [];
  const add = (label: string, value: unknown) => {
    if (value === undefined || value === null || value === false || (Array.isArray(value) && value.length === 0)) return;
    bounds.push([label, Array.isArray(value) ? value.join(", ") : typeof value === "number" ? formatNumber(value) : String(value)]);
  };
  switch (check.type) {
    case "quality":
      add("min", check.min);
      add("max", check.max);
      add("largest change vs production", check.relativeToProduction);
      return { what: check.metric, bounds };
    case "performance":
      add("p50 ms ≤", check.p50Ms);
      add("p95 ms ≤", check.p95Ms);
      add("p99 ms ≤", check.p99Ms);
      add("throughput ≥ req/s", check.minThroughput);
      return { what: "latency and throughput", bounds };
    case "bias":
      add("demographic parity difference ≤", check.maxDemographicParityDifference);
      add("equalized odds difference ≤", check.maxEqualizedOddsDifference);
      return { what: `across '${check.sensitiveColumn}'`, bounds };
    case "drift":
      add("PSI ≤", check.maxPsi);
      add("KS statistic ≤", check.maxKsStatistic);
      return { what: "each feature against the reference", bounds };
    case "compliance":
      add("model card fields", check.requiredModelCardFields);
      add("lineage required", check.requireLineage ? "yes" : undefined);
      add("no sensitive features", check.forbidSensitiveFeatures ? "yes" : undefined);
      return { what: "model card and lineage", bounds };
  }
}

function Gate({ name }: { name: string }) {
  const policy = useApi(() => api.getGatePolicy(name), [name]);
  const history = useApi(() => api.getGatePolicyHistory(name, { limit: 20 }).catch(() => []), [name]);
  return (
    <>
      <ErrorNotice error={policy.error} />
      {policy.data === undefined ? (
        policy.error ? null : <Loading what="Loading the gate policy" />
      ) : (
        <section className="panel" aria-labelledby="gate-title">
          <h2 id="gate-title">Production gate policy</h2>
          <dl className="kv">
            <dt>Source</dt>
            <dd>{policy.data.source === "default" ? "the platform's default (the model has none of its own)" : policy.data.source === "required" ? "required by a platform or team policy" : "the model's own"}</dd>
            <dt>Policy version</dt>
            <dd className="mono">{policy.data.version}</dd>
            <dt>Updated</dt>
            <dd>
              {policy.data.updatedBy ? `${policy.data.updatedBy}, ` : ""}
              <Time ms={policy.data.updatedAt} />
            </dd>
          </dl>
          <h3>Checks</h3>
          <table>
            <thead>
              <tr>
                <th scope="col">Check</th>
                <th scope="col">Measures</th>
                <th scope="col">Thresholds</th>
              </tr>
            </thead>
            <tbody>
              {policy.data.policy.checks.map((check, i) => {
                const { what, bounds } = describeCheck(check);
                return (
                  <tr key={i}>
                    <td>{check.type}</td>
                    <td>{what}</td>
                    <td>
                      <ul className="figures">
                        {bounds.map(([label, value]) => (
                          <li key={label}>
                            <span className="key">{label}</span>
                            {value}
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p className="hint">
            Change it with <span className="mono">paved evaluations policy set {name} -f policy.yaml</span>; versions must be evaluated again under a new policy.
          </p>
        </section>
      )}
      {history.data && history.data.length > 0 ? (
        <section className="panel" aria-labelledby="gate-history-title">
          <h2 id="gate-history-title">Policy changes</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">By</th>
                <th scope="col">Version</th>
                <th scope="col">Replaced</th>
              </tr>
            </thead>
            <tbody>
              {history.data.map((change) => (
                <tr key={change.id}>
                  <td>
                    <Time ms={change.createdAt} />
                  </td>
                  <td>{change.user}</td>
                  <td className="mono">{change.version}</td>
                  <td className="mono">{change.previous ? `${change.previous.version} (${change.previous.source})` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </>
  );
}
