import { PlatformError, invalidInput, isPlatformError, notFound, type Clock, type IdGenerator, type Principal, type ResourceRef } from "../../core/index.ts";
import type { DatasetService } from "../datasets/index.ts";
import { cardFeatures, cardTags } from "../evaluation/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { ModelVersion, RegistryService } from "../registry/index.ts";
import { planColumns, signatureFromRegistry, type FeatureNames } from "./columns.ts";
import type { Prediction, PredictionPhase, PredictionSpec } from "./schema.ts";
import type { PredictionRow, PredictionStore } from "./store.ts";

/** What batch inference uses of the registry. */
export type PredictionRegistry = Pick<RegistryService, "modelResource" | "getModel" | "resolveVersion" | "getVersion" | "files" | "openFile">;
/** What batch inference uses of datasets. */
export type PredictionDatasets = Pick<DatasetService, "resolve" | "getDataset" | "getVersion" | "putFile" | "createVersion">;

export interface PredictionServiceDeps {
  store: PredictionStore;
  registry: PredictionRegistry;
  datasets: PredictionDatasets;
  clock: Clock;
  ids: IdGenerator;
  /** Wakes the controller (a new prediction, a cancel). */
  kick: () => void;
}

/** Creating, reading and cancelling batch predictions; the controller runs them. */
export class PredictionService {
  constructor(private readonly deps: PredictionServiceDeps) {}

  /** A new prediction belongs to its model's team: one of another team answers as a missing model. */
  async newResource(spec: Pick<PredictionSpec, "model">): Promise<ResourceRef> {
    const model = await this.deps.registry.modelResource(spec.model);
    return { ...model, kind: "prediction", id: "(new)" };
  }

  /** A prediction as the policy sees it; one of another team answers as a missing one. */
  async resource(id: string): Promise<ResourceRef> {
    const team = await this.deps.store.team(id);
    if (team === undefined) throw missing(id);
    return { kind: "prediction", id, team, notFound: () => missing(id) };
  }

  /**
   * Checks what can be checked before anything runs (the version exists and holds an ONNX model,
   * the input dataset version exists in the model's team and holds CSV or Parquet files, the
   * output name is free or the team's) and queues the prediction; the controller runs it.
   */
  async create(spec: PredictionSpec, principal: Principal): Promise<Prediction> {
    const { registry, datasets, store, clock, ids } = this.deps;
    const model = await registry.getModel(spec.model);
    const version = await registry.resolveVersion(spec.model, spec.version);
    await onnxFile(registry, version);
    const team = model.team_id;
    const input = await datasets.resolve(team, spec.input);
    const files = input.file ? [input.file] : input.files;
    if (!files.some((f) => f.format === "csv" || f.format === "parquet")) {
      throw invalidInput(`${input.ref} holds no CSV or Parquet file; batch inference reads .csv and .parquet files (add one in a new version of the dataset)`);
    }
    const inputRef = input.file ? `${input.ref}/${input.file.path}` : input.ref;
    // The columns against the model's input now, from the schema the dataset version recorded (the run checks every value).
    const signature = signatureFromRegistry(JSON.parse(version.signature!) as Parameters<typeof signatureFromRegistry>[0]);
    const first = input.file ?? files.find((f) => f.format === "csv" || f.format === "parquet")!;
    const columns = (await datasets.getVersion(input.dataset, input.version)).files?.find((f) => f.path === first.path)?.columns;
    if (signature && columns) planColumns({ signature, columns, names: await featureNames(registry, spec, version), keep: spec.keep, what: `${input.ref}/${first.path}` });
    const output = spec.output ?? `${input.dataset}-predictions`.slice(0, 128);
    const existing = await datasets.getDataset(output).catch((error: unknown) => {
      if (isPlatformError(error) && error.code === "NOT_FOUND") return undefined;
      throw error;
    });
    if (existing && existing.team !== team) throw new PlatformError("ALREADY_EXISTS", `the dataset name ${output} is taken; choose another output dataset with --output`);
    const id = ids.prefixed("pred");
    const now = clock.now();
    const resolved: PredictionSpec = { ...spec, version: String(version.version), input: inputRef, output };
    await store.insert({
      prediction_id: id,
      team_id: team,
      model_name: model.name,
      model_version: Number(version.version),
      input: inputRef,
      output_dataset: output,
      spec: JSON.stringify(resolved),
      phase: "QUEUED",
      rows_done: 0,
      rows_total: files.every((f) => f.rowCount !== null) ? files.reduce((n, f) => n + Number(f.rowCount), 0) : null,
      output_version: null,
      seconds: null,
      rows_per_second: null,
      message: null,
      attempts: 0,
      created_by: principal.onBehalfOf ?? principal.name,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
    });
    // Read before the controller is woken: the answer is the prediction as queued.
    const queued = await this.get(id);
    this.deps.kick();
    return queued;
  }

  async get(id: string): Promise<Prediction> {
    const row = await this.deps.store.get(id);
    if (!row) throw missing(id);
    return { ...toPrediction(row), spec: JSON.parse(row.spec) };
  }

  async list(opts: { limit: number }, reader?: Principal): Promise<Prediction[]> {
    const teams = reader ? visibleTeams(reader, "predictions:read") : undefined;
    return (await this.deps.store.list({ limit: opts.limit, teams })).map(toPrediction);
  }

  /** Cancels a queued or running prediction (a running one stops at its next chunk; nothing is written). */
  async cancel(id: string, principal: Principal): Promise<Prediction> {
    const by = principal.onBehalfOf ?? principal.name;
    const now = this.deps.clock.now();
    await this.deps.store.transition(id, ["QUEUED", "RUNNING"], "CANCELLED", { message: `cancelled by ${by}`, finished_at: now }, now);
    this.deps.kick();
    return this.get(id);
  }
}

/** The version's ONNX file (the shallowest, as evaluation picks it); UNSUPPORTED when it holds none. */
export async function onnxFile(registry: PredictionRegistry, version: ModelVersion): Promise<{ path: string; size: number }> {
  const files = await registry.files(version.name, version.version);
  const onnx = files.filter((f) => f.path.toLowerCase().endsWith(".onnx")).sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
  if (!onnx || !version.signature) {
    throw new PlatformError("UNSUPPORTED", `version ${version.version} of '${version.name}' holds no ONNX model; batch inference runs ONNX models (register a version whose files include a .onnx file)`);
  }
  return onnx;
}

/** The model's feature names: the request's, else its model card's `model_card.features`; none: every column in file order. */
export async function featureNames(registry: PredictionRegistry, spec: PredictionSpec, version: ModelVersion): Promise<FeatureNames | undefined> {
  if (spec.features) return { names: spec.features, from: "the request's features" };
  const declared = cardFeatures(cardTags(await registry.getModel(version.name), version));
  return declared.length ? { names: declared, from: "the model_card.features tag" } : undefined;
}

function missing(id: string): PlatformError {
  return notFound(`prediction '${id}' does not exist; list predictions with \`paved predictions ls\``);
}

export function toPrediction(row: PredictionRow): Prediction {
  return {
    id: row.prediction_id,
    team: row.team_id,
    model: row.model_name,
    version: Number(row.model_version),
    input: row.input,
    outputDataset: row.output_dataset,
    phase: row.phase as PredictionPhase,
    rows: Number(row.rows_done),
    totalRows: row.rows_total === null ? null : Number(row.rows_total),
    output: row.output_version === null ? null : `datasets:/${row.output_dataset}@${row.output_version}`,
    outputVersion: row.output_version === null ? null : Number(row.output_version),
    seconds: row.seconds === null ? null : Number(row.seconds),
    rowsPerSecond: row.rows_per_second === null ? null : Number(row.rows_per_second),
    message: row.message,
    attempts: Number(row.attempts),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
  };
}
