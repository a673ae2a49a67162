import type { Readable } from "node:stream";
import type { ArtifactStore } from "../../artifacts/index.ts";
import { PlatformError, confinePath, invalidInput, notFound, type ResourceRef } from "../../core/index.ts";
import type { RegistryService } from "../registry/index.ts";
import type { TrackingService } from "../tracking/index.ts";
import type { EvaluationStore } from "./store.ts";

/**
 * Where evaluation data may come from: only files the platform already stores, named by a URI.
 * A server path is never a valid input, whether or not it exists, so nothing a request names is
 * opened outside the artifact store. Registered datasets (`datasets:/<name>@<version>`) join
 * this list as one more entry in `SCHEMES`; each scheme is one entry there.
 */
export type DataSource =
  | { kind: "run"; runId: string; path: string; experimentId?: string }
  | { kind: "model"; name: string; version: number; path: string }
  | { kind: "upload"; digest: string }
  | { kind: "dataset"; ref: string };

/** The schemes evaluation data may be given in, for short messages. */
export const DATA_SCHEMES = "runs:/, mlflow-artifacts:/, models:/, datasets:/ or uploads:/";

/** The URIs evaluation data may be given as, for messages. */
export const ACCEPTED_DATA_URIS =
  "runs:/<run_id>/<path> (a run artifact), mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>, models:/<name>/<version>/<path> (a file of a registered version), datasets:/<name>@<version|alias>[/<path>] (a CSV of a registered dataset version) or uploads:/<sha256> (a CSV sent with `paved evaluate <model>@<version> --data <local file>`, or POST /api/v1/evaluation-data)";

/** Registered dataset versions, as the datasets module resolves them (app.ts connects it). */
export interface EvaluationDatasets {
  resolve(team: string, ref: string): Promise<{ ref: string; files: DatasetFile[]; file?: DatasetFile }>;
}
interface DatasetFile {
  path: string;
  digest: string;
  size: number;
  format: string;
}

const RUN_ID = /^[0-9A-Za-z_-]{1,64}$/;
const EXPERIMENT_ID = /^[0-9A-Za-z_-]{1,64}$/;
const DIGEST = /^[0-9a-f]{64}$/;

type SchemeParser = (rest: string[], uri: string, what: string) => DataSource;

const relative = (segments: string[], what: string): string => confinePath(segments.join("/"), `${what} path`);

const SCHEMES: Record<string, SchemeParser> = {
  runs: ([runId = "", ...path], uri, what) => {
    if (!RUN_ID.test(runId)) throw invalidInput(`${what} '${uri}' has no valid run id; write runs:/<run_id>/<path>`);
    return { kind: "run", runId, path: relative(path, what) };
  },
  "mlflow-artifacts": ([experimentId = "", runId = "", root, ...path], uri, what) => {
    if (!EXPERIMENT_ID.test(experimentId) || !RUN_ID.test(runId) || root !== "artifacts") {
      throw invalidInput(`${what} '${uri}' is not a run artifact; write mlflow-artifacts:/<experiment_id>/<run_id>/artifacts/<path>`);
    }
    return { kind: "run", runId, experimentId, path: relative(path, what) };
  },
  models: ([name = "", version = "", ...path], uri, what) => {
    if (!name || !/^[1-9]\d{0,8}$/.test(version)) throw invalidInput(`${what} '${uri}' must name a file of a version as models:/<name>/<version number>/<path>`);
    return { kind: "model", name, version: Number(version), path: relative(path, what) };
  },
  uploads: ([digest = "", ...extra], uri, what) => {
    const hex = digest.replace(/^sha256:/, "");
    if (!DIGEST.test(hex) || extra.some((s) => s !== "")) throw invalidInput(`${what} '${uri}' must be uploads:/<sha256> as the upload answered it`);
    return { kind: "upload", digest: hex };
  },
  // The datasets module checks the rest of the reference when it resolves it.
  datasets: ([head = ""], uri, what) => {
    if (!head) throw invalidInput(`${what} '${uri}' names no dataset; write datasets:/<name>@<version|alias>[/<path of a CSV file>]`);
    return { kind: "dataset", ref: uri };
  },
};

/**
 * Parses an evaluation data URI at the edge: INVALID_INPUT for anything that is not one of
 * ACCEPTED_DATA_URIS (a server path, `file://`, a host, `..`), saying which URIs are accepted.
 */
export function parseDataUri(uri: string, what: string): DataSource {
  const fix = `give ${ACCEPTED_DATA_URIS}; a path on the server is never read`;
  if (typeof uri !== "string" || !uri || uri.length > 2048) throw invalidInput(`${what} must be a URI of at most 2048 characters; ${fix}`);
  if (/[\s\0\\?#]/.test(uri)) throw invalidInput(`${what} '${uri}' contains whitespace, a backslash, a query ('?') or a fragment ('#'); ${fix}`);
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(uri);
  const scheme = match?.[1]!.toLowerCase();
  const parse = scheme !== undefined ? SCHEMES[scheme] : undefined;
  if (!match || !parse) throw invalidInput(`${what} '${uri}' is not a platform URI; ${fix}`);
  const rest = match[2]!;
  if (!rest.startsWith("/") || rest.startsWith("//")) throw invalidInput(`${what} '${uri}' names a host or is not of the form ${scheme}:/<path>; ${fix}`);
  const segments = rest.slice(1).split("/");
  if (segments.some((s) => s === "..")) throw invalidInput(`${what} '${uri}' contains '..'; ${fix}`);
  return parse(segments, uri, what);
}

/** The URI of an upload, as the upload route answers it. */
export function uploadUri(digest: string): string {
  return `uploads:/${digest}`;
}

/** A data URI resolved to the blob it names, so the runner reads exactly the bytes checked on acceptance. */
export interface ResolvedData {
  uri: string;
  /** sha256 (hex) of the blob in the artifact store. */
  digest: string;
  size: number;
}

export interface DataResolverDeps {
  tracking: TrackingService;
  registry: RegistryService;
  artifacts: ArtifactStore;
  store: EvaluationStore;
  /** Largest CSV read (config `evaluation.maxDataBytes`). */
  maxBytes: number;
  /** Registered datasets; unset, `datasets:/` URIs are UNSUPPORTED. */
  datasets?: EvaluationDatasets;
}

/** Largest header (and first record) read to check a request before it is stored. */
const MAX_HEAD_BYTES = 1024 * 1024;

/** Resolves data URIs to artifact-store blobs and reads them, bounded; never opens a path a request names. */
export class DataResolver {
  constructor(private readonly deps: DataResolverDeps) {}

  get maxBytes(): number {
    return this.deps.maxBytes;
  }

  /**
   * Parses and resolves a URI among `team`'s data; NOT_FOUND when the run, version, file or upload
   * does not exist, and the same answer when it belongs to another team.
   */
  async resolve(uri: string, what: string, team: string): Promise<ResolvedData> {
    return this.resolveSource(parseDataUri(uri, what), uri, what, team);
  }

  async resolveSource(source: DataSource, uri: string, what: string, team: string): Promise<ResolvedData> {
    const blob = await this.blobOf(source, team);
    if (blob.size > this.deps.maxBytes) {
      throw invalidInput(`${what} '${uri}' is ${blob.size} bytes, more than the ${this.deps.maxBytes}-byte limit; evaluate on a sample (or raise evaluation.maxDataBytes)`);
    }
    return { uri, digest: blob.digest, size: blob.size };
  }

  /** The blob's first bytes (at most 1 MiB) as text, enough for the header and the first record; `complete` when that is the whole file. */
  async head(data: ResolvedData): Promise<{ text: string; complete: boolean }> {
    const chunks: Buffer[] = [];
    let size = 0;
    const stream = await this.deps.artifacts.get(data.digest);
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        size += chunk.length;
        if (size > MAX_HEAD_BYTES) break;
      }
    } finally {
      stream.destroy();
    }
    return { text: Buffer.concat(chunks).subarray(0, MAX_HEAD_BYTES).toString("utf8"), complete: size <= MAX_HEAD_BYTES };
  }

  /** The whole blob, read without blocking the event loop; refused past the limit. */
  async bytes(data: ResolvedData, what: string): Promise<Buffer> {
    const stream: Readable = await this.deps.artifacts.get(data.digest);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.deps.maxBytes) {
        stream.destroy();
        throw invalidInput(`${what} '${data.uri}' is larger than the ${this.deps.maxBytes}-byte limit; evaluate on a sample (or raise evaluation.maxDataBytes)`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  }

  /** The CSV file a dataset reference names: the one it names by path, else the version's only CSV file. */
  private async datasetFile(ref: string, team: string): Promise<{ digest: string; size: number }> {
    if (!this.deps.datasets) throw new PlatformError("UNSUPPORTED", `'${ref}': this server has no datasets module; use ${ACCEPTED_DATA_URIS}`);
    const version = await this.deps.datasets.resolve(team, ref);
    const csvs = version.files.filter((f) => f.format === "csv");
    const file = version.file ?? (csvs.length === 1 ? csvs[0] : undefined);
    if (!file) {
      const shown = csvs.slice(0, 5).map((f) => `${version.ref}/${f.path}`).join(", ");
      throw invalidInput(
        csvs.length === 0
          ? `${version.ref} holds no CSV file, and evaluations read CSV; give a dataset version with one, or export its Parquet to CSV first`
          : `${version.ref} holds ${csvs.length} CSV files; name one, e.g. ${shown}`,
      );
    }
    if (file.format !== "csv") throw invalidInput(`${version.ref}/${file.path} is ${file.format === "parquet" ? "Parquet" : "not a CSV file"}, and evaluations read CSV; name a CSV file of the version`);
    return { digest: file.digest.replace(/^sha256:/, ""), size: file.size };
  }

  private async blobOf(source: DataSource, team: string): Promise<{ digest: string; size: number }> {
    switch (source.kind) {
      case "run": {
        inTeam(await this.deps.tracking.runResource(source.runId), team);
        const run = await this.deps.tracking.getRun(source.runId);
        if (source.experimentId !== undefined && run.info.experiment_id !== source.experimentId) {
          throw notFound(`run '${source.runId}' is not in experiment '${source.experimentId}'; copy the run's artifact URI unchanged`);
        }
        const blob = (await this.deps.tracking.artifactBlobs(source.runId, source.path)).find((b) => b.path === source.path);
        if (!blob) throw notFound(`run '${source.runId}' has no artifact file '${source.path}'; list its artifacts with \`paved runs artifacts ls ${source.runId}\``);
        return blob;
      }
      case "model": {
        inTeam(await this.deps.registry.modelResource(source.name), team);
        const file = (await this.deps.registry.files(source.name, source.version)).find((f) => f.path === source.path);
        if (!file) throw notFound(`version ${source.version} of '${source.name}' has no file '${source.path}'; see its files with \`paved models show ${source.name}@${source.version}\``);
        return file;
      }
      case "dataset":
        return this.datasetFile(source.ref, team);
      case "upload": {
        const upload = await this.deps.store.getUpload(team, source.digest);
        if (!upload) {
          throw notFound(
            `no evaluation data was uploaded as '${uploadUri(source.digest)}' in team '${team}' (the model's team); upload the CSV with \`paved evaluate <model>@<version> --data <local file>\` (or POST /api/v1/evaluation-data?model=<model>)`,
          );
        }
        return { digest: upload.digest, size: upload.size };
      }
    }
  }
}

/** Data of another team answers as missing data: an evaluation reads only its own team's. */
function inTeam(resource: ResourceRef, team: string): void {
  if (resource.team !== team) throw resource.notFound?.() ?? notFound(`${resource.kind} '${resource.id}' does not exist`);
}
