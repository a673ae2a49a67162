// Registered models: each with its latest version and aliases, searchable by name, sortable, and a
// form to register a version from a run. Also the small pieces the model, version and deployment
// pages share (aliases, tags, numbers, the register form). User data is rendered as text only.
import { useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, navigate, seg, useQueryParam } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { Model } from "../../../src/client/types.ts";
import "./models.css";

/** The alias production deployments and the gate care about. */
export const PRODUCTION_ALIAS = "production";

export function modelPath(name: string): string {
  return `/models/${seg(name)}`;
}

export function versionPath(name: string, version: string): string {
  return `/models/${seg(name)}/versions/${seg(version)}`;
}

/** A link target only when it is http(s) or a path on this site: never javascript:, data: or the like. */
export function safeHref(value: string): string | undefined {
  if (value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/\\")) return value;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** A number as people read it: integers as they are, others to four significant digits. */
export function formatNumber(value: number | string | boolean | null | undefined | string[]): string {
  if (value === null || value === undefined) return "—";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  if (Math.abs(value) >= 1000) return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
  return Number(value.toPrecision(4)).toString();
}

export function percent(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? "—" : `${(value * 100).toFixed(digits)}%`;
}

/** Aliases (alias → version) as badges; production stands out. */
export function AliasList({ aliases, model, linkVersions = false }: { aliases: Record<string, string> | string[]; model: string; linkVersions?: boolean }) {
  const entries = Array.isArray(aliases) ? aliases.map((a) => [a, undefined] as const) : Object.entries(aliases).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <span className="hint">none</span>;
  return (
    <ul className="alias-list" aria-label="Aliases">
      {entries.map(([alias, version]) => (
        <li key={alias}>
          <span className={`alias${alias === PRODUCTION_ALIAS ? " production" : ""}`}>
            @{alias}
            {version !== undefined ? (
              <>
                {" → "}
                {linkVersions ? <Link to={versionPath(model, version)}>v{version}</Link> : `v${version}`}
              </>
            ) : null}
          </span>
        </li>
      ))}
    </ul>
  );
}

/** Tags as key = value; a value that is an http(s) URL becomes a link, anything else stays text. */
export function TagList({ tags, label = "Tags" }: { tags: Record<string, string>; label?: string }) {
  const entries = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  if (!entries.length) return <span className="hint">no tags</span>;
  return (
    <ul className="tag-list" aria-label={label}>
      {entries.map(([key, value]) => (
        <li key={key}>
          <span className="tag-key">{key}</span> = <TagValue value={value} />
        </li>
      ))}
    </ul>
  );
}

export function TagValue({ value }: { value: string }) {
  const href = /^https?:\/\//i.test(value) ? safeHref(value) : undefined;
  return href ? (
    <a href={href} rel="noopener noreferrer" target="_blank">
      {value}
    </a>
  ) : (
    <span>{value}</span>
  );
}

/**
 * Registers a version from a run's artifacts (`runs:/<run>/<path>`): the model is created when
 * new. Goes to the new version's page; the server's refusal shows as it said it.
 */
export function RegisterVersionForm({ model, onRegistered }: { model?: string; onRegistered?: () => void }) {
  const [name, setName] = useState(model ?? "");
  const [runId, setRunId] = useState("");
  const [path, setPath] = useState("model");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const source = `runs:/${runId.trim()}/${path.trim().replace(/^\/+/, "")}`;
      const version = await api.registerModelVersion(name.trim(), { source, ...(description.trim() ? { description: description.trim() } : {}) });
      onRegistered?.();
      navigate(versionPath(version.name, version.version));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="Register a version">
      {model === undefined ? (
        <div className="field">
          <label htmlFor="register-model">Model name</label>
          <input id="register-model" value={name} onChange={(e) => setName(e.target.value)} required placeholder="churn" />
        </div>
      ) : null}
      <div className="field">
        <label htmlFor="register-run">Run ID</label>
        <input id="register-run" value={runId} onChange={(e) => setRunId(e.target.value)} required placeholder="run id" />
      </div>
      <div className="field">
        <label htmlFor="register-path">Artifact path</label>
        <input id="register-path" value={path} onChange={(e) => setPath(e.target.value)} required />
      </div>
      <div className="field">
        <label htmlFor="register-description">Description</label>
        <input id="register-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </div>
      <button type="submit" className="primary" disabled={busy || !runId.trim() || !name.trim()}>
        {busy ? "Registering…" : "Register version"}
      </button>
      <ErrorNotice error={error} title="Not registered" />
    </form>
  );
}

const SORTS: Record<string, { label: string; compare: (a: Model, b: Model) => number }> = {
  updated: { label: "Recently updated", compare: (a, b) => b.updatedAt - a.updatedAt },
  name: { label: "Name", compare: (a, b) => a.name.localeCompare(b.name) },
  created: { label: "Recently created", compare: (a, b) => b.createdAt - a.createdAt },
};

export default function ModelsPage(_props: PageProps) {
  const [q, setQ] = useQueryParam("q");
  const [sort, setSort] = useQueryParam("sort", "updated");
  const [register, setRegister] = useQueryParam("register");
  // MLflow filter syntax on the server; a quote cannot be part of a model search.
  const term = q.replace(/['\\]/g, "");
  const models = useApi(() => api.listModels({ limit: 1000, ...(term ? { filter: `name LIKE '%${term}%'` } : {}) }), [term], { live: { topics: ["models"], match: (e) => e.kind !== "evaluation" }, refreshMs: 15_000 });
  const sorted = [...(models.data ?? [])].sort((SORTS[sort] ?? SORTS.updated!).compare);
  return (
    <>
      <PageHeader title="Models" help="registry">
        <button type="button" className="primary" aria-expanded={register === "1"} onClick={() => setRegister(register === "1" ? "" : "1")}>
          Register a version
        </button>
      </PageHeader>
      {register === "1" ? (
        <section className="panel" aria-labelledby="register-title">
          <h2 id="register-title">Register a version from a run</h2>
          <p className="hint">The run's artifacts under the path become a new version; a new name creates the model.</p>
          <RegisterVersionForm onRegistered={models.reload} />
        </section>
      ) : null}
      <div className="toolbar" role="search">
        <div className="field">
          <label htmlFor="models-q">Name contains</label>
          <input id="models-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="models-sort">Sort by</label>
          <select id="models-sort" value={sort} onChange={(e) => setSort(e.target.value)}>
            {Object.entries(SORTS).map(([key, s]) => (
              <option key={key} value={key}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ErrorNotice error={models.error} />
      {models.data === undefined ? (
        models.error ? null : <Loading what="Loading models" />
      ) : sorted.length === 0 ? (
        <Empty>{q ? `No model's name contains "${q}".` : "No registered models yet: register a version from a run (above), or with `paved models register`."}</Empty>
      ) : (
        <table>
          <caption className="hint">{sorted.length === 1 ? "1 model" : `${sorted.length} models`}</caption>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Team</th>
              <th scope="col">Latest version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Description</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((m) => (
              <tr key={m.name}>
                <td>
                  <Link to={modelPath(m.name)}>{m.name}</Link>
                </td>
                <td>{m.team}</td>
                <td>{m.latestVersion ? <Link to={versionPath(m.name, m.latestVersion)}>v{m.latestVersion}</Link> : "—"}</td>
                <td>
                  <AliasList aliases={m.aliases} model={m.name} />
                </td>
                <td className="description">{m.description ?? ""}</td>
                <td>
                  <Time ms={m.updatedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
