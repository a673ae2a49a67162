// One model version: where it came from (its run, commit, datasets), its signature and files, its
// evaluations with every gate check (metric, value, threshold, pass or fail, how to fix), what the
// production gate decides for it now, and a form to point an alias at it. ?evaluation= picks one.
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader, StateBadge, Time } from "../components/common.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, seg, useLocation, useQueryParam, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import type { Evaluation, GateStatus, ModelVersion } from "../../../src/client/types.ts";
import type { ChangeEvent } from "../live.ts";
import { AliasForm, GateVerdict } from "./model.tsx";
import { AliasList, TagList, formatNumber, modelPath } from "./models.tsx";
import "./models.css";

const UNFINISHED = new Set(["Pending", "Running"]);

export default function ModelVersionPage({ params }: PageProps) {
  const name = params.name!;
  const ref = params.version!;
  // Live: any change of this model, its versions or their evaluations (polling only while the event stream is down).
  const live = { topics: ["models"] as const, match: (e: ChangeEvent) => e.id === name || e.parent === name };
  const version = useApi(() => api.getModelVersion(name, ref), [name, ref], { live, refreshMs: 15_000 });
  const number = version.data?.version;
  const evaluations = useApi(
    async () => (number === undefined ? undefined : api.listEvaluations({ model: name, version: number, limit: 100 })),
    [name, number],
    // Evaluations run in the background: follow one until it finishes.
    { live, refreshMs: 2_000 },
  );
  const gate = useApi(() => api.getGateStatus(name).catch(() => undefined), [name], { live, refreshMs: 5_000 });
  const entry = gate.data?.versions.find((v) => v.version === number);
  const reload = () => {
    version.reload();
    gate.reload();
  };
  return (
    <>
      <PageHeader title={`${name} v${number ?? ref}`} help="evaluation">
        <Link to={modelPath(name)}>All versions</Link>
      </PageHeader>
      <ErrorNotice error={version.error} />
      {version.data === undefined ? (
        version.error ? null : <Loading what="Loading the version" />
      ) : (
        <>
          <div className="grid">
            <Summary version={version.data} />
            <GatePanel entry={entry} gate={gate.data} />
          </div>
          <Evaluations list={evaluations.data} error={evaluations.error} gateEvaluation={entry?.evaluation ?? null} />
          <section className="panel" aria-labelledby="alias-title">
            <h2 id="alias-title">Point an alias at this version</h2>
            <p className="hint">@production passes the gate first: the latest evaluation under the current policy must have passed.</p>
            <AliasForm model={name} versions={[version.data.version]} fixedVersion={version.data.version} onChange={reload} />
          </section>
          <div className="grid">
            <Signature version={version.data} />
            <Lineage version={version.data} />
          </div>
          <Files version={version.data} />
        </>
      )}
    </>
  );
}

function Summary({ version: v }: { version: ModelVersion }) {
  return (
    <section className="panel" aria-labelledby="version-summary">
      <h2 id="version-summary">Version {v.version}</h2>
      {v.description ? <p className="description">{v.description}</p> : null}
      <dl className="kv">
        <dt>Source run</dt>
        <dd>{v.runId ? <Link to={`/runs/${seg(v.runId)}`}>{v.runId}</Link> : "—"}</dd>
        <dt>Source</dt>
        <dd className="mono">{v.source}</dd>
        <dt>Aliases</dt>
        <dd>
          <AliasList aliases={v.aliases} model={v.name} />
        </dd>
        <dt>Registered by</dt>
        <dd>{v.user}</dd>
        <dt>Registered</dt>
        <dd>
          <Time ms={v.createdAt} />
        </dd>
        <dt>Tags</dt>
        <dd>
          <TagList tags={v.tags} label="Version tags" />
        </dd>
      </dl>
    </section>
  );
}

function GatePanel({ entry, gate }: { entry: GateStatus["versions"][number] | undefined; gate: GateStatus | undefined }) {
  return (
    <section className="panel" aria-labelledby="gate-status-title">
      <h2 id="gate-status-title">Production gate</h2>
      <p>
        <GateVerdict entry={entry} />
      </p>
      <dl className="kv">
        <dt>Policy version</dt>
        <dd className="mono">{gate?.policyVersion ?? "—"}</dd>
        <dt>Decided by</dt>
        <dd>{entry?.evaluation ? <span className="mono">{entry.evaluation}</span> : "no finished evaluation under the current policy"}</dd>
        {entry?.inProgress ? (
          <>
            <dt>In progress</dt>
            <dd>
              <span className="mono">{entry.inProgress.id}</span> <StateBadge state={entry.inProgress.phase} />
            </dd>
          </>
        ) : null}
      </dl>
      {!entry ? (
        <p className="hint">
          Evaluate it with <span className="mono">paved evaluate {gate?.model ?? "model"}@… --data eval.csv</span>.
        </p>
      ) : null}
    </section>
  );
}

function Evaluations({ list, error, gateEvaluation }: { list: Evaluation[] | undefined; error: unknown; gateEvaluation: string | null }) {
  const [selected] = useQueryParam("evaluation");
  const location = useLocation();
  if (error) return <ErrorNotice error={error} title="Evaluations" />;
  if (list === undefined) return <Loading what="Loading evaluations" />;
  const chosen = list.find((e) => e.id === selected) ?? list[0];
  return (
    <section className="panel" aria-labelledby="evaluations-title">
      <h2 id="evaluations-title">Evaluations</h2>
      {list.length === 0 ? (
        <Empty>No evaluations yet. The production gate needs one that passes.</Empty>
      ) : (
        <>
          <ul className="evaluation-list" aria-label="Evaluations of this version, newest first">
            {list.map((e) => (
              <li key={e.id}>
                <Link to={withQuery({ evaluation: e.id === list[0]!.id ? undefined : e.id }, location)} aria-current={e.id === chosen?.id ? "true" : undefined}>
                  <Time ms={e.createdAt} /> <StateBadge state={e.phase} />
                  {e.id === gateEvaluation ? " (decides the gate)" : ""}
                </Link>
              </li>
            ))}
          </ul>
          {chosen ? <EvaluationDetail evaluation={chosen} /> : null}
        </>
      )}
    </section>
  );
}

function EvaluationDetail({ evaluation: e }: { evaluation: Evaluation }) {
  return (
    <article aria-label={`Evaluation ${e.id}`}>
      <dl className="kv">
        <dt>Evaluation</dt>
        <dd className="mono">{e.id}</dd>
        <dt>Result</dt>
        <dd>
          <StateBadge state={e.phase} />
          {e.message ? <span className="fail"> {e.message}</span> : null}
        </dd>
        <dt>Data</dt>
        <dd className="mono">
          {e.dataPath}
          {e.dataDigest ? ` (${e.dataDigest.slice(0, 19)}…)` : ""}
        </dd>
        <dt>Reference</dt>
        <dd>{e.referencePath ? `${e.referencePath}${e.referenceOrigin ? ` (${e.referenceOrigin})` : ""}` : (e.referenceNote ?? "—")}</dd>
        {e.features ? (
          <>
            <dt>Features</dt>
            <dd>
              {e.features.names.join(", ")} <span className="hint">(matched by {e.features.matchedBy}: {e.features.from})</span>
            </dd>
          </>
        ) : null}
        <dt>Policy version</dt>
        <dd className="mono">{e.policyVersion}</dd>
        <dt>Asked by</dt>
        <dd>
          {e.user}, <Time ms={e.createdAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time ms={e.finishedAt} />
        </dd>
      </dl>
      {UNFINISHED.has(e.phase) ? (
        <p className="loading" role="status">
          The checks appear when the evaluation finishes…
        </p>
      ) : e.checks.length === 0 ? (
        <Empty>It recorded no check results.</Empty>
      ) : (
        <ChecksTable checks={e.checks} />
      )}
    </article>
  );
}

type Check = Evaluation["checks"][number];

const shown = (v: unknown) => v !== null && v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0);
const valueText = (v: unknown) => (Array.isArray(v) ? v.join(", ") : typeof v === "number" ? formatNumber(v) : String(v));

/** A figure's thresholds: the same name, or its min/max form (p99Ms ↔ p99Ms, psi ↔ maxPsi, value ↔ min/max). */
function thresholdsFor(check: Check, figure: string): [string, string][] {
  const t = check.thresholds;
  const cap = figure.charAt(0).toUpperCase() + figure.slice(1);
  const candidates: [string, string][] =
    check.type === "quality" && figure === "value"
      ? [["min", "≥"], ["max", "≤"]]
      : check.type === "quality" && figure === "production"
        ? [["relativeToProduction", "largest change"]]
        : [[figure, "≤"], [`max${cap}`, "≤"], [`min${cap}`, "≥"]];
  return candidates.filter(([key]) => shown(t[key])).map(([key, label]) => [key, `${label} ${valueText(t[key])}`]);
}

/** Every check of an evaluation: one row per figure it measured, with the threshold it was held to. */
export function ChecksTable({ checks }: { checks: Check[] }) {
  const failed = checks.filter((c) => !c.passed).length;
  return (
    <table className="checks">
      <caption className="hint">
        {checks.length} checks, {failed === 0 ? "all passed" : `${failed} failed`}
      </caption>
      <thead>
        <tr>
          <th scope="col">Check</th>
          <th scope="col">Metric</th>
          <th scope="col" className="num">
            Value
          </th>
          <th scope="col">Threshold</th>
          <th scope="col">Result</th>
          <th scope="col">How to fix</th>
        </tr>
      </thead>
      <tbody>
        {checks.map((check) => {
          const rows = Object.entries(check.figures)
            .filter(([, v]) => v !== null)
            .map(([key, value]) => ({
              key,
              // A quality check's one figure is its metric (quality:accuracy → accuracy).
              label: check.type === "quality" && key === "value" ? check.name.slice(check.name.indexOf(":") + 1) : key,
              value: valueText(value),
              thresholds: thresholdsFor(check, key),
            }));
          const used = new Set(rows.flatMap((r) => r.thresholds.map(([k]) => k)));
          // Thresholds no figure answers (compliance's required fields, say) show on the first line.
          const rest = Object.entries(check.thresholds)
            .filter(([k, v]) => shown(v) && !used.has(k))
            .map(([k, v]) => `${k}: ${valueText(v)}`);
          const lines = rows.length ? rows : [{ key: "", label: "", value: "—", thresholds: [] as [string, string][] }];
          return lines.map((row, i) => {
            const threshold = [...row.thresholds.map(([, text]) => text), ...(i === 0 ? rest : [])].join("; ");
            return (
              <tr key={`${check.name}:${row.key}`} className={check.passed ? "check-passed" : "check-failed"}>
                {i === 0 ? (
                  <th scope="row" rowSpan={lines.length}>
                    {check.name}
                  </th>
                ) : null}
                <td className="metric">{row.label}</td>
                <td className="num">{row.value}</td>
                <td>{threshold || "—"}</td>
                {i === 0 ? (
                  <>
                    <td rowSpan={lines.length}>
                      <span className={check.passed ? "pass" : "fail"}>{check.passed ? "pass" : "fail"}</span>
                    </td>
                    <td rowSpan={lines.length} className="check-hint">
                      {check.hint ?? ""}
                    </td>
                  </>
                ) : null}
              </tr>
            );
          });
        })}
      </tbody>
    </table>
  );
}

function Signature({ version: v }: { version: ModelVersion }) {
  const tensors = (label: string, list: NonNullable<ModelVersion["signature"]>["inputs"]) => (
    <>
      <h3>{label}</h3>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Shape</th>
          </tr>
        </thead>
        <tbody>
          {list.map((t) => (
            <tr key={t.name}>
              <td className="mono">{t.name}</td>
              <td>{t.type}</td>
              <td className="mono">[{(t.shape ?? []).map((d) => (d === null ? "?" : String(d))).join(", ")}]</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
  return (
    <section className="panel" aria-labelledby="signature-title">
      <h2 id="signature-title">Signature</h2>
      {v.signature ? (
        <>
          <p className="hint">
            Read from <span className="mono">{v.signature.file}</span>
          </p>
          {tensors("Inputs", v.signature.inputs)}
          {tensors("Outputs", v.signature.outputs)}
        </>
      ) : (
        <Empty>No ONNX signature (the version has no .onnx file).</Empty>
      )}
    </section>
  );
}

function Lineage({ version: v }: { version: ModelVersion }) {
  const l = v.lineage;
  return (
    <section className="panel" aria-labelledby="lineage-title">
      <h2 id="lineage-title">Lineage</h2>
      {l ? (
        <dl className="kv">
          <dt>Run</dt>
          <dd>
            <Link to={`/runs/${seg(l.runId)}`}>{l.runId}</Link>
          </dd>
          <dt>Experiment</dt>
          <dd>
            <Link to={`/experiments/${seg(l.experimentId)}`}>{l.experimentId}</Link>
          </dd>
          <dt>Commit</dt>
          <dd className="mono">{l.commit ?? "—"}</dd>
          <dt>Datasets</dt>
          <dd>
            {l.datasets.length ? (
              <ul className="figures">
                {l.datasets.map((d) => (
                  <li key={`${d.name}:${d.digest}`}>
                    <span className="key">{d.context ?? "input"}</span>
                    {d.name} <span className="mono">{d.source}</span>
                  </li>
                ))}
              </ul>
            ) : (
              "none recorded"
            )}
          </dd>
        </dl>
      ) : (
        <Empty>No lineage was captured (the version does not come from a run).</Empty>
      )}
    </section>
  );
}

function Files({ version: v }: { version: ModelVersion }) {
  if (!v.files.length) return null;
  return (
    <section className="panel" aria-labelledby="files-title">
      <h2 id="files-title">Files</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Path</th>
            <th scope="col" className="num">
              Size
            </th>
            <th scope="col">Digest</th>
          </tr>
        </thead>
        <tbody>
          {v.files.map((f) => (
            <tr key={f.path}>
              <td className="mono">{f.path}</td>
              <td className="num">{formatNumber(f.size)} B</td>
              <td className="mono">{f.digest.slice(0, 23)}…</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">
        Download with <span className="mono">mlflow artifacts download -u {v.downloadUri}</span>
      </p>
    </section>
  );
}
