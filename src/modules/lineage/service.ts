import type { Kysely } from "kysely";
import { invalidInput, notFound, type Principal } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { parseDatasetRef, formatDatasetRef } from "../datasets/index.ts";
import { visibleTeams } from "../identity/index.ts";
import { MAX_LINEAGE_NODES, type LineageEdge, type LineageGraph, type LineageNode, type LineageQuery } from "./schema.ts";

/**
 * Lineage across the golden path, read from the records each module keeps (read only, as adoption
 * reads them): a deployment serves a model version, registered from a run, which ran a commit and
 * read datasets (registered versions, or inputs it declared), each registered version snapshotted
 * from a connector source or produced by a run, a batch prediction or a pipeline. Walked upstream
 * (where it came from) and downstream (what was made from it), breadth first, bounded in depth and
 * nodes. Nodes of teams the reader is not in are left out, as if they did not exist.
 */
export class LineageService {
  constructor(private readonly db: Kysely<Tables>) {}

  async graph(query: LineageQuery, reader: Principal): Promise<LineageGraph> {
    const teams = visibleTeams(reader, "lineage:read");
    const visible = (team: string | null) => team === null || teams === undefined || teams.includes(team);
    const root = await this.root(query.ref);
    if (!root || !visible(root.team)) throw notFound(`${query.ref} does not exist; give a deployment id (deploy-…), models:/<name>/<version>, runs:/<run_id> or datasets:/<name>@<version>`);
    const nodes = new Map<string, LineageNode>([[root.id, root]]);
    // Dataset versions with a lineage, read once per request (not once per node).
    const cache: Cache = {};
    const edges = new Map<string, LineageEdge>();
    let truncated = false;
    const walk = async (direction: "upstream" | "downstream") => {
      let frontier = [root];
      for (let depth = 0; depth < query.depth && frontier.length > 0; depth++) {
        const next: LineageNode[] = [];
        for (const node of frontier) {
          const links = direction === "upstream" ? await this.upstream(node) : await this.downstream(node, cache);
          for (const { node: other, relation } of links) {
            if (!visible(other.team)) continue;
            const edge = direction === "upstream" ? { from: other.id, to: node.id, relation } : { from: node.id, to: other.id, relation };
            edges.set(`${edge.from}>${edge.to}`, edge);
            if (nodes.has(other.id)) continue;
            if (nodes.size >= MAX_LINEAGE_NODES) {
              truncated = true;
              continue;
            }
            nodes.set(other.id, other);
            next.push(other);
          }
        }
        frontier = next;
        if (depth === query.depth - 1 && frontier.length > 0) truncated = true;
      }
    };
    if (query.direction !== "downstream") await walk("upstream");
    if (query.direction !== "upstream") await walk("downstream");
    // An edge to a node left out (bound reached) is left out too.
    const kept = [...edges.values()].filter((e) => nodes.has(e.from) && nodes.has(e.to));
    return { root: root.id, nodes: [...nodes.values()], edges: kept, truncated };
  }

  // ---- the node a reference names ----

  private async root(ref: string): Promise<LineageNode | undefined> {
    if (/^deploy-[A-Za-z0-9_-]{1,64}$/.test(ref)) return this.deployment(ref);
    if (ref.startsWith("runs:/")) {
      const id = ref.slice("runs:/".length).replace(/\/$/, "");
      if (!/^[0-9A-Za-z_-]{1,64}$/.test(id)) throw invalidInput(`'${ref}' is not a run reference; write runs:/<run_id>`);
      return this.run(id);
    }
    if (ref.startsWith("models:/")) {
      const [name = "", version = "", ...rest] = ref.slice("models:/".length).split("/");
      if (!name || !version || rest.some((r) => r !== "") || name.length > 256 || version.length > 64) throw invalidInput(`'${ref}' is not a model version reference; write models:/<name>/<version or alias>`);
      return this.modelVersion(name, version);
    }
    if (ref.startsWith("datasets:/")) {
      const parsed = parseDatasetRef(ref);
      return this.datasetVersion(parsed.name, parsed.version);
    }
    throw invalidInput(`'${ref.slice(0, 200)}' is not something lineage knows; give a deployment id (deploy-…), models:/<name>/<version>, runs:/<run_id> or datasets:/<name>@<version>`);
  }

  // ---- one step upstream ----

  private async upstream(node: LineageNode): Promise<{ node: LineageNode; relation: string }[]> {
    const a = node.attributes;
    switch (node.kind) {
      case "deployment": {
        const version = await this.modelVersion(String(a.model), String(a.version));
        return version ? [{ node: version, relation: "deployed as" }] : [];
      }
      case "model": {
        const out: { node: LineageNode; relation: string }[] = [];
        if (typeof a.runId === "string") {
          const run = await this.run(a.runId);
          if (run) out.push({ node: run, relation: "registered from" });
        }
        return out;
      }
      case "run": {
        const out: { node: LineageNode; relation: string }[] = [];
        if (typeof a.commit === "string") out.push({ node: commitNode(a.commit, a.dirty === true), relation: "code of" });
        const inputs = await this.db.selectFrom("dataset_inputs").select(["name", "digest", "source", "source_type", "context"]).where("run_id", "=", node.id.slice("run:".length)).limit(200).execute();
        for (const input of inputs) {
          const dataset = (await this.registeredInput(input.source, input.digest, node.team)) ?? inputNode(input);
          out.push({ node: dataset, relation: dataset.kind === "dataset" && !input.source.startsWith("datasets:/") ? "read by (digest match)" : "read by" });
        }
        return out;
      }
      case "dataset": {
        const out: { node: LineageNode; relation: string }[] = [];
        if (typeof a.source === "string") out.push({ node: sourceNode(a.source), relation: "snapshot of" });
        const lineage = typeof a.lineage === "string" ? (JSON.parse(a.lineage) as Record<string, unknown>) : undefined;
        if (lineage?.kind === "run" && typeof lineage.id === "string") {
          const run = await this.run(lineage.id);
          if (run) out.push({ node: run, relation: "produced" });
        } else if (lineage?.kind === "prediction" && typeof lineage.id === "string") {
          out.push({ node: predictionNode(lineage, node.team), relation: "produced" });
        } else if (lineage?.kind === "pipeline" && typeof lineage.id === "string") {
          out.push({ node: { id: `pipeline-run:${lineage.id}`, kind: "pipeline-run", label: `pipeline run ${lineage.id}`, team: node.team, ref: null, attributes: {} }, relation: "produced" });
        } else if (lineage?.kind === "deployment" && typeof lineage.id === "string") {
          const deployment = await this.deployment(lineage.id);
          if (deployment) out.push({ node: deployment, relation: "produced" });
        }
        return out;
      }
      case "prediction": {
        const out: { node: LineageNode; relation: string }[] = [];
        const version = typeof a.model === "string" ? await this.modelVersion(a.model, String(a.modelVersion)) : undefined;
        if (version) out.push({ node: version, relation: "predicted with" });
        if (typeof a.input === "string") {
          const parsed = parseDatasetRef(a.input);
          const input = await this.datasetVersion(parsed.name, parsed.version);
          if (input) out.push({ node: input, relation: "predicted on" });
        }
        return out;
      }
      default:
        return [];
    }
  }

  // ---- one step downstream ----

  private async downstream(node: LineageNode, cache: Cache): Promise<{ node: LineageNode; relation: string }[]> {
    const a = node.attributes;
    switch (node.kind) {
      case "dataset": {
        const out: { node: LineageNode; relation: string }[] = [];
        const ref = String(node.ref);
        const hex = String(a.digest).replace(/^sha256:/, "");
        // Runs that read it by reference, or logged an input with its digest (MLflow's log-inputs).
        const readers = await this.db
          .selectFrom("dataset_inputs")
          .select("run_id")
          .where((eb) => eb.or([eb("source", "=", ref), eb("digest", "in", [hex, `sha256:${hex}`])]))
          .limit(MAX_LINEAGE_NODES)
          .execute();
        for (const { run_id } of readers) {
          const run = await this.run(run_id);
          if (run) out.push({ node: run, relation: "read by" });
        }
        // Batch predictions over it, and the datasets they wrote.
        for (const produced of await this.producedFrom(cache, (l) => l.kind === "prediction" && l.input === ref)) out.push({ node: produced.prediction, relation: "predicted on" });
        return out;
      }
      case "run": {
        const runId = node.id.slice("run:".length);
        const versions = await this.db
          .selectFrom("model_versions as v")
          .innerJoin("registered_models as m", "m.model_id", "v.model_id")
          .select(["m.name", "v.version"])
          .where("v.run_id", "=", runId)
          .limit(100)
          .execute();
        const out: { node: LineageNode; relation: string }[] = [];
        for (const v of versions) {
          const version = await this.modelVersion(v.name, String(v.version));
          if (version) out.push({ node: version, relation: "registered from" });
        }
        for (const produced of await this.producedFrom(cache, (l) => l.kind === "run" && l.id === runId)) out.push({ node: produced.dataset, relation: "produced" });
        return out;
      }
      case "model": {
        const out: { node: LineageNode; relation: string }[] = [];
        const rows = await this.db.selectFrom("deployments").select("id").where("model_name", "=", String(a.model)).orderBy("created_at", "desc").limit(1000).execute();
        for (const { id } of rows) {
          const deployment = await this.deployment(id);
          if (deployment && String(deployment.attributes.version) === String(a.version)) out.push({ node: deployment, relation: "deployed as" });
        }
        for (const produced of await this.producedFrom(cache, (l) => l.kind === "prediction" && l.model === a.model && Number(l.modelVersion) === Number(a.version))) {
          out.push({ node: produced.prediction, relation: "predicted with" });
        }
        return out;
      }
      case "prediction": {
        const produced = await this.producedFrom(cache, (l) => l.kind === "prediction" && l.id === node.id.slice("prediction:".length));
        return produced.map((p) => ({ node: p.dataset, relation: "produced" }));
      }
      case "deployment": {
        const produced = await this.producedFrom(cache, (l) => l.kind === "deployment" && l.id === node.id.slice("deployment:".length));
        return produced.map((p) => ({ node: p.dataset, relation: "produced" }));
      }
      default:
        return [];
    }
  }

  // ---- nodes read from the records ----

  private async deployment(id: string): Promise<LineageNode | undefined> {
    const row = await this.db.selectFrom("deployments").select(["id", "model_name", "environment", "spec", "phase", "team_id", "created_at"]).where("id", "=", id).executeTakeFirst();
    if (!row) return undefined;
    const spec = JSON.parse(row.spec) as { version: string; strategy: string };
    return {
      id: `deployment:${row.id}`,
      kind: "deployment",
      label: `deployment ${row.id} (${row.model_name}@${spec.version} to ${row.environment}, ${spec.strategy}, ${row.phase})`,
      team: row.team_id,
      ref: row.id,
      attributes: { model: row.model_name, version: spec.version, environment: row.environment, strategy: spec.strategy, phase: row.phase, createdAt: row.created_at },
    };
  }

  private async modelVersion(name: string, versionOrAlias: string): Promise<LineageNode | undefined> {
    const model = await this.db.selectFrom("registered_models").select(["model_id", "name", "team_id"]).where("name", "=", name).executeTakeFirst();
    if (!model) return undefined;
    let version = /^[1-9]\d{0,8}$/.test(versionOrAlias) ? Number(versionOrAlias) : undefined;
    if (version === undefined) {
      const alias = await this.db.selectFrom("registered_model_aliases").select("version").where("model_id", "=", model.model_id).where("alias", "=", versionOrAlias).executeTakeFirst();
      if (!alias) return undefined;
      version = Number(alias.version);
    }
    const row = await this.db.selectFrom("model_versions").select(["version", "run_id", "source", "lineage", "creation_time"]).where("model_id", "=", model.model_id).where("version", "=", version).executeTakeFirst();
    if (!row) return undefined;
    const lineage = row.lineage ? (JSON.parse(row.lineage) as { runId?: string; commit?: string | null }) : undefined;
    const runId = row.run_id ?? lineage?.runId ?? null;
    return {
      id: `model:${model.name}@${row.version}`,
      kind: "model",
      label: `model ${model.name}@${row.version}`,
      team: model.team_id,
      ref: `models:/${model.name}/${row.version}`,
      attributes: { model: model.name, version: Number(row.version), runId, source: row.source, createdAt: row.creation_time },
    };
  }

  private async run(runId: string): Promise<LineageNode | undefined> {
    const row = await this.db
      .selectFrom("runs as r")
      .innerJoin("experiments as e", "e.experiment_id", "r.experiment_id")
      .select(["r.run_id", "r.run_name", "r.status", "r.source_commit", "r.source_dirty", "r.job_id", "r.start_time", "e.team_id", "e.name as experiment"])
      .where("r.run_id", "=", runId)
      .executeTakeFirst();
    if (!row) return undefined;
    // A job's commit is a tag (mlflow.source.git.commit, as MLflow sets it); a run created with a source keeps it in its row.
    const tags = await this.db.selectFrom("tags").select(["key", "value"]).where("run_id", "=", runId).where("key", "in", ["mlflow.source.git.commit", "paved.source.dirty"]).execute();
    const tag = (key: string) => tags.find((t) => t.key === key)?.value;
    const commit = row.source_commit ?? tag("mlflow.source.git.commit") ?? null;
    const dirty = row.source_dirty === 1 || tag("paved.source.dirty") === "true";
    return {
      id: `run:${row.run_id}`,
      kind: "run",
      label: `run ${row.run_id}${row.run_name ? ` (${row.run_name})` : ""} in ${row.experiment}`,
      team: row.team_id,
      ref: `runs:/${row.run_id}`,
      attributes: { status: row.status, commit, dirty, job: row.job_id, experiment: row.experiment, startTime: row.start_time },
    };
  }

  private async datasetVersion(name: string, versionRef: number | string): Promise<LineageNode | undefined> {
    const dataset = await this.db.selectFrom("datasets").select(["dataset_id", "name", "team_id"]).where("name", "=", name).executeTakeFirst();
    if (!dataset) return undefined;
    let version: number | undefined;
    if (typeof versionRef === "number") version = versionRef;
    else if (versionRef === "latest") {
      const top = await this.db.selectFrom("dataset_versions").select((eb) => eb.fn.max("version").as("v")).where("dataset_id", "=", dataset.dataset_id).executeTakeFirst();
      version = top?.v == null ? undefined : Number(top.v);
    } else {
      const alias = await this.db.selectFrom("dataset_aliases").select("version").where("dataset_id", "=", dataset.dataset_id).where("alias", "=", versionRef).executeTakeFirst();
      version = alias ? Number(alias.version) : undefined;
    }
    if (version === undefined) return undefined;
    const row = await this.db.selectFrom("dataset_versions").selectAll().where("dataset_id", "=", dataset.dataset_id).where("version", "=", version).executeTakeFirst();
    if (!row) return undefined;
    return datasetNode(dataset.name, dataset.team_id, row);
  }

  /** A run's input as a registered version: by its datasets:/ source, else by a digest one of the team's versions has. */
  private async registeredInput(source: string, digest: string, team: string | null): Promise<LineageNode | undefined> {
    if (source.startsWith("datasets:/")) {
      try {
        const parsed = parseDatasetRef(source);
        return await this.datasetVersion(parsed.name, parsed.version);
      } catch {
        return undefined;
      }
    }
    const hex = digest.replace(/^sha256:/, "");
    if (!/^[0-9a-f]{64}$/.test(hex) || team === null) return undefined;
    const row = await this.db
      .selectFrom("dataset_versions as v")
      .innerJoin("datasets as d", "d.dataset_id", "v.dataset_id")
      .selectAll("v")
      .select(["d.name", "d.team_id"])
      .where("v.digest", "=", hex)
      .where("d.team_id", "=", team)
      .orderBy("v.created_at")
      .executeTakeFirst();
    return row ? datasetNode(row.name, row.team_id, row) : undefined;
  }

  /** Dataset versions whose lineage matches (batch predictions' outputs, a run's), newest first, bounded. */
  private async producedFrom(cache: Cache, match: (lineage: Record<string, unknown>) => boolean): Promise<{ dataset: LineageNode; prediction: LineageNode }[]> {
    cache.produced ??= this.db
      .selectFrom("dataset_versions as v")
      .innerJoin("datasets as d", "d.dataset_id", "v.dataset_id")
      .selectAll("v")
      .select(["d.name", "d.team_id"])
      .where("v.lineage", "is not", null)
      .orderBy("v.created_at", "desc")
      .limit(10_000)
      .execute()
      .then((rows) => rows.map((row) => ({ row, lineage: JSON.parse(row.lineage!) as Record<string, unknown> })));
    const out: { dataset: LineageNode; prediction: LineageNode }[] = [];
    for (const { row, lineage } of await cache.produced) {
      if (!match(lineage)) continue;
      out.push({ dataset: datasetNode(row.name, row.team_id, row), prediction: predictionNode(lineage, row.team_id) });
      if (out.length >= 100) break;
    }
    return out;
  }
}

/** What one request reads once: the dataset versions that have a lineage, with it parsed. */
interface Cache {
  produced?: Promise<{ row: Tables["dataset_versions"] & { name: string; team_id: string }; lineage: Record<string, unknown> }[]>;
}

function datasetNode(name: string, team: string, row: Tables["dataset_versions"]): LineageNode {
  const source = row.source ? (JSON.parse(row.source) as { kind: string; description: string }) : undefined;
  const rows = row.row_count === null ? null : Number(row.row_count);
  return {
    id: `dataset:${name}@${row.version}`,
    kind: "dataset",
    label: `dataset ${name}@${row.version}${rows !== null ? ` (${rows.toLocaleString("en-US")} rows)` : ""}`,
    team,
    ref: formatDatasetRef(name, Number(row.version)),
    attributes: {
      dataset: name,
      version: Number(row.version),
      digest: `sha256:${row.digest}`,
      rows,
      files: Number(row.file_count),
      source: source && source.kind !== "upload" ? `${source.kind}: ${source.description}` : null,
      lineage: row.lineage,
      createdAt: row.created_at,
    },
  };
}

function sourceNode(description: string): LineageNode {
  return { id: `source:${description}`, kind: "source", label: description, team: null, ref: null, attributes: {} };
}

function commitNode(commit: string, dirty: boolean): LineageNode {
  return { id: `commit:${commit}`, kind: "commit", label: `commit ${commit.slice(0, 12)}${dirty ? " (with uncommitted changes)" : ""}`, team: null, ref: null, attributes: { commit, dirty } };
}

function inputNode(input: { name: string; digest: string; source: string; source_type: string }): LineageNode {
  return {
    id: `input:${input.digest}`,
    kind: "input",
    label: `input ${input.name} (${input.source_type}: ${input.source.length > 120 ? `${input.source.slice(0, 120)}…` : input.source})`,
    team: null,
    ref: null,
    attributes: { name: input.name, digest: input.digest, source: input.source, sourceType: input.source_type },
  };
}

function predictionNode(lineage: Record<string, unknown>, team: string | null): LineageNode {
  const id = String(lineage.id);
  return {
    id: `prediction:${id}`,
    kind: "prediction",
    label: `batch prediction ${id}${typeof lineage.model === "string" ? ` (${lineage.model}@${String(lineage.modelVersion)} over ${String(lineage.input)})` : ""}`,
    team,
    ref: null,
    attributes: { model: typeof lineage.model === "string" ? lineage.model : null, modelVersion: typeof lineage.modelVersion === "number" ? lineage.modelVersion : null, input: typeof lineage.input === "string" ? lineage.input : null },
  };
}
