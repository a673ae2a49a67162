// The service catalog: compute profiles (with what an hour costs), workspace environments, and
// templates. "Use this" on a template scaffolds a spec: its YAML with the name and parameters set
// here, to copy or download, and the `paved` commands that apply and run it. ?tab= and ?template=
// hold the view; the name and parameters typed are the page's own until copied.
import { useEffect, useMemo, useState } from "react";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, useLocation, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

const TABS = [
  ["profiles", "Compute profiles"],
  ["environments", "Environments"],
  ["templates", "Templates"],
] as const;

export default function CatalogPage(_props: PageProps) {
  const location = useLocation();
  const tab = location.query.get("tab") ?? "profiles";
  return (
    <>
      <PageHeader title="Catalog" help={tab === "environments" ? "workspaces" : tab === "templates" ? "pipelines" : "jobs"} />
      <nav className="tabs" aria-label="Catalog sections">
        {TABS.map(([id, label]) => (
          <Link key={id} to={withQuery({ tab: id === "profiles" ? undefined : id, template: undefined }, location)} aria-current={tab === id ? "page" : undefined}>
            {label}
          </Link>
        ))}
      </nav>
      {tab === "profiles" ? <Profiles /> : null}
      {tab === "environments" ? <Environments /> : null}
      {tab === "templates" ? <Templates /> : null}
    </>
  );
}

function memory(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

function Profiles() {
  const profiles = useApi(() => api.listProfiles(), []);
  const prices = useApi(() => api.getPrices(), []);
  const currency = prices.data?.currency ?? "";
  if (profiles.error) return <ErrorNotice error={profiles.error} />;
  if (!profiles.data) return <Loading what="Loading profiles" />;
  return (
    <section aria-label="Compute profiles">
      <p className="hint">
        A job asks for a profile by name (<code>compute: {"{"} profile: gpu-1 {"}"}</code> or <code>paved train --profile gpu-1</code>) instead of raw resources.
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Profile</th>
            <th scope="col">Description</th>
            <th scope="col" className="num">
              GPUs
            </th>
            <th scope="col">GPU type</th>
            <th scope="col" className="num">
              CPUs
            </th>
            <th scope="col" className="num">
              Memory
            </th>
            <th scope="col" className="num">
              Cost per hour
            </th>
            <th scope="col">Runs on</th>
          </tr>
        </thead>
        <tbody>
          {profiles.data.map((p) => (
            <tr key={p.name}>
              <th scope="row">{p.name}</th>
              <td>{p.description}</td>
              <td className="num">{p.gpus}</td>
              <td>{p.gpuType ?? "any"}</td>
              <td className="num">{p.cpus}</td>
              <td className="num">{memory(p.memoryMiB)}</td>
              <td className="num">
                {p.hourlyCost.toFixed(2)} {currency}
              </td>
              <td>{p.executor ?? "the server's default"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Environments() {
  const { data, error, loading } = useApi(() => api.listEnvironments(), []);
  if (error) return <ErrorNotice error={error} />;
  if (!data) return loading ? <Loading what="Loading environments" /> : null;
  if (data.length === 0) {
    return (
      <Empty>
        No environments in the catalog: workspaces and jobs use the server&apos;s Python. An operator lists them in the environments file (see <Link to="/docs/workspaces">Workspaces</Link>).
      </Empty>
    );
  }
  return (
    <section aria-label="Environments">
      <p className="hint">
        Open a workspace on one with <code>paved workspace create --env NAME@VERSION</code>.
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">Environment</th>
            <th scope="col">Description</th>
            <th scope="col">Python</th>
            <th scope="col">Packages</th>
            <th scope="col">Built</th>
          </tr>
        </thead>
        <tbody>
          {data.map((e) => (
            <tr key={e.ref}>
              <th scope="row">{e.ref}</th>
              <td>{e.description}</td>
              <td>
                <span className="mono">{e.python}</span>
                {e.pythonVersion ? ` (${e.pythonVersion})` : ""}
              </td>
              <td>{e.packages.join(", ") || "—"}</td>
              <td>{e.built ? `yes${e.buildMs !== null ? ` (${(e.buildMs / 1000).toFixed(1)} s)` : ""}` : "not yet (built on first use)"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Templates() {
  const location = useLocation();
  const chosen = location.query.get("template");
  const { data, error, loading } = useApi(() => api.listTemplates(), []);
  if (error) return <ErrorNotice error={error} />;
  if (!data) return loading ? <Loading what="Loading templates" /> : null;
  return (
    <section aria-label="Templates">
      {data.length === 0 ? <Empty>No templates in this installation.</Empty> : null}
      <div className="grid">
        {data.map((t) => (
          <div key={t.name} className="panel">
            <h2>{t.name}</h2>
            <p>{t.description}</p>
            <p className="hint">
              A {t.kind} with {Object.keys(t.parameters).length} parameters.
            </p>
            <Link className={`button${chosen === t.name ? "" : " primary"}`} to={withQuery({ template: t.name }, location)} aria-current={chosen === t.name ? "true" : undefined}>
              Use this
            </Link>
          </div>
        ))}
      </div>
      {chosen ? <Scaffold key={chosen} name={chosen} /> : null}
    </section>
  );
}

/** A parameter the form can edit: one on a single line (a scalar or a flow list) under spec.parameters. */
interface ParameterLine {
  key: string;
  line: number;
  indent: string;
  value: string;
}

/** Where a template's metadata.name and its one-line parameters sit, so they can be set without reformatting (comments stay). */
function scaffoldPoints(yaml: string): { nameLine: number | undefined; parameters: ParameterLine[] } {
  const lines = yaml.split("\n");
  const indentOf = (l: string) => l.length - l.trimStart().length;
  const content = (l: string) => l.trim() !== "" && !l.trimStart().startsWith("#");
  let nameLine: number | undefined;
  const parameters: ParameterLine[] = [];
  let section = "";
  let paramsIndent = -1;
  let childIndent = -1;
  lines.forEach((line, i) => {
    if (!content(line)) return;
    const indent = indentOf(line);
    if (indent === 0) {
      section = line.split(":")[0]!.trim();
      paramsIndent = -1;
      return;
    }
    if (section === "metadata" && nameLine === undefined && /^\s+name:\s*\S/.test(line)) nameLine = i;
    if (section !== "spec") return;
    if (paramsIndent === -1 && /^\s+parameters:\s*$/.test(line)) {
      paramsIndent = indent;
      childIndent = -1;
      return;
    }
    if (paramsIndent === -1) return;
    if (indent <= paramsIndent) {
      paramsIndent = -1;
      return;
    }
    if (childIndent === -1) childIndent = indent;
    if (indent !== childIndent) return;
    const m = /^(\s+)([A-Za-z_][A-Za-z0-9_]*):\s*(.*)$/.exec(line);
    // A value on the next lines (a block list) is left as it is.
    if (m && m[3]!.trim() !== "" && !m[3]!.startsWith("#")) parameters.push({ key: m[2]!, line: i, indent: m[1]!, value: m[3]!.trim() });
  });
  return { nameLine, parameters };
}

/** A value typed into the form, as YAML: JSON (numbers, true/false, lists, quoted strings) stays; other text is quoted. */
function yamlValue(text: string): string {
  const t = text.trim();
  try {
    JSON.parse(t);
    return t;
  } catch {
    return JSON.stringify(text);
  }
}

function Scaffold({ name }: { name: string }) {
  const { data, error, loading } = useApi(() => api.getTemplate(name), [name]);
  const points = useMemo(() => (data ? scaffoldPoints(data.yaml) : undefined), [data]);
  const [pipelineName, setPipelineName] = useState(name);
  const [values, setValues] = useState<Record<string, string>>({});
  const [copied, setCopied] = useState("");
  useEffect(() => {
    if (points) setValues(Object.fromEntries(points.parameters.map((p) => [p.key, p.value])));
  }, [points]);
  const yaml = useMemo(() => {
    if (!data || !points) return "";
    const lines = data.yaml.split("\n");
    if (points.nameLine !== undefined && pipelineName.trim()) lines[points.nameLine] = lines[points.nameLine]!.replace(/name:.*$/, `name: ${pipelineName.trim()}`);
    for (const p of points.parameters) {
      const v = values[p.key];
      if (v !== undefined && v !== p.value) lines[p.line] = `${p.indent}${p.key}: ${yamlValue(v)}`;
    }
    return lines.join("\n");
  }, [data, points, pipelineName, values]);
  const file = `${pipelineName.trim() || name}.yaml`;
  const download = useMemo(() => (yaml ? URL.createObjectURL(new Blob([yaml], { type: "application/yaml" })) : ""), [yaml]);
  useEffect(() => () => (download ? URL.revokeObjectURL(download) : undefined), [download]);
  const validName = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(pipelineName.trim());
  const copy = async (text: string, what: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(what);
    } catch {
      setCopied("");
    }
  };
  const commands = `paved pipelines apply -f ${file}\npaved pipelines run ${pipelineName.trim() || name} --wait`;
  return (
    <section className="panel" aria-labelledby="scaffold-heading">
      <h2 id="scaffold-heading">Use {name}</h2>
      <ErrorNotice error={error} />
      {!data && loading ? <Loading what="Loading the template" /> : null}
      {data && points ? (
        <>
          <div className="param-form">
            <label htmlFor="scaffold-name">Pipeline name</label>
            <input id="scaffold-name" value={pipelineName} onChange={(e) => setPipelineName(e.target.value)} aria-invalid={!validName} aria-describedby="scaffold-name-hint" />
            <span />
            <span id="scaffold-name-hint" className={validName ? "hint" : "fail"}>
              lowercase letters, digits and &apos;-&apos; (at most 63)
            </span>
            {points.parameters.map((p) => (
              <ParameterInput key={p.key} name={p.key} value={values[p.key] ?? p.value} onChange={(v) => setValues((old) => ({ ...old, [p.key]: v }))} />
            ))}
          </div>
          <h3>The spec</h3>
          <pre className="yaml" tabIndex={0} role="region" aria-label={`Spec ${file}`}>
            {yaml}
          </pre>
          <div className="spec-actions">
            <a className="button primary" href={download} download={file}>
              Download {file}
            </a>
            <button type="button" onClick={() => void copy(yaml, "spec")}>
              Copy the spec
            </button>
            <span role="status" className="hint">
              {copied ? `Copied the ${copied}.` : ""}
            </span>
          </div>
          <h3>Then run it</h3>
          <pre tabIndex={0} role="region" aria-label="Commands">
            {commands}
          </pre>
          <div className="spec-actions">
            <button type="button" onClick={() => void copy(commands, "commands")}>
              Copy the commands
            </button>
            <span className="hint">
              or without the form: <code>paved templates show {name} &gt; {name}.yaml</code>
            </span>
          </div>
        </>
      ) : null}
    </section>
  );
}

function ParameterInput({ name, value, onChange }: { name: string; value: string; onChange: (v: string) => void }) {
  const id = `param-${name}`;
  return (
    <>
      <label htmlFor={id}>{name}</label>
      <input id={id} value={value} onChange={(e) => onChange(e.target.value)} />
    </>
  );
}
