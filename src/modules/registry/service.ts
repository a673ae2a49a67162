import type { Readable } from "node:stream";
import { listDirectory, presignedDownloadUrl, type ArtifactStore } from "../../artifacts/index.ts";
import { alreadyExists, confinePath, decodeNameToken, encodeNameToken, invalidInput, notFound, type Action, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import type { Database } from "../../storage/index.ts";
import { authorize, teamForNew } from "../identity/index.ts";
import { runView, type ArtifactBlob, type ArtifactFile, type TrackingService } from "../tracking/index.ts";
import type { LoggedModelService } from "./logged-model-service.ts";
import { inspectOnnx, refuseExternalData, type OnnxInspectionLimits } from "./onnx-inspection.ts";
import { MalformedOnnx, type ModelSignature } from "./onnx-signature.ts";
import type { LineageView } from "./schema.ts";
import { comparator, matches, page, parseFilter, parseOrderBy, type Clause } from "./search-filter.ts";
import { parseSource, type ModelSource } from "./source.ts";
import { RegistryStore, type ModelVersionRow, type RegisteredModelRow } from "./store.ts";
import { checkAlias, checkDescription, checkModelName, checkTag, parseVersion } from "./validate.ts";

export interface RegistryDeps {
  database: Database;
  artifacts: ArtifactStore;
  tracking: TrackingService;
  loggedModels: LoggedModelService;
  /** Refuses (QUOTA_EXCEEDED) storing `bytes` more for a team past its artifact storage quota (guardrails' ledger); unset: unlimited. */
  storageQuota?: (team: string, bytes: number, what: string) => Promise<void>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Bounds of reading a version's ONNX model (the configuration's `registry.onnx`). */
  onnx?: Partial<OnnxInspectionLimits> | undefined;
}

type KeyValue = { key: string; value: string };

/** A registered model with its tags and aliases. */
export interface RegisteredModel extends RegisteredModelRow {
  tags: KeyValue[];
  aliases: { alias: string; version: number }[];
  /** The newest version, if any. */
  latest: ModelVersion | undefined;
}

/** A model version with its model's name, tags and the aliases pointing at it. */
export interface ModelVersion extends ModelVersionRow {
  name: string;
  tags: KeyValue[];
  aliases: string[];
}

/** A proposed alias move, as an alias guard sees it. */
export interface AliasChange {
  model: RegisteredModel;
  alias: string;
  version: number;
  /** Who asks; absent for internal callers. */
  actor?: Principal | undefined;
  /** An override of guards the caller asked for, with its reason (guards decide whether to honour it). */
  force?: boolean | undefined;
  reason?: string | undefined;
}

/**
 * Where a new version's files may come from: the team of the model it is registered into, and
 * who asks (absent for internal callers). What the caller cannot read answers as missing; what
 * lies in another of the caller's teams is refused, since a version's files stay in their team.
 */
interface SourceScope {
  model: string;
  team: string;
  principal?: Principal | undefined;
}

/** Runs before an alias moves; throws (e.g. GATE_FAILED) to refuse the move. */
export type AliasGuard = (change: AliasChange) => Promise<void>;

export const REGISTRY_PROXY_ROOT = "registry";

const MODEL_FILTER = ["name"] as const;
const VERSION_FILTER = ["name", "run_id", "source", "source_path", "version_number", "version", "status", "user_id"] as const;
const MODEL_ORDER: Record<string, string> = {
  name: "name",
  timestamp: "creation_time",
  creation_timestamp: "creation_time",
  last_updated_timestamp: "last_update_time",
};
const VERSION_ORDER: Record<string, string> = {
  name: "name",
  version_number: "version",
  version: "version",
  creation_timestamp: "creation_time",
  timestamp: "creation_time",
  last_updated_timestamp: "last_update_time",
  run_id: "run_id",
};

/**
 * The model registry: registered models, versions (files copied from runs, logged models or other
 * versions at registration), aliases, ONNX signatures and lineage. MLflow and Paved routes are thin
 * translations onto it.
 */
export class RegistryService {
  private readonly store: RegistryStore;
  private readonly aliasGuards: AliasGuard[] = [];

  constructor(private readonly deps: RegistryDeps) {
    this.store = new RegistryStore(deps.database);
  }

  // ---- registered models ----

  /** Creates a registered model owned by `team` (the caller decides which, with identity's `teamForNew`). Names are unique across teams. */
  async createModel(input: { name: string; team: string; description?: string | null | undefined; tags?: KeyValue[] | undefined; userId: string }): Promise<RegisteredModel> {
    const name = checkModelName(input.name);
    for (const t of input.tags ?? []) checkTag(t.key, t.value);
    if (await this.store.getModelByName(name)) throw nameTaken(name);
    const now = this.deps.clock.now();
    try {
      await this.store.insertModel(
        {
          model_id: this.deps.ids.prefixed("model"),
          name,
          description: checkDescription(input.description),
          user_id: input.userId,
          max_version: 0,
          creation_time: now,
          last_update_time: now,
          team_id: input.team,
        },
        [...new Map((input.tags ?? []).map((t) => [t.key, t])).values()],
      );
    } catch (error) {
      if (await this.store.getModelByName(name)) throw nameTaken(name);
      throw error;
    }
    return this.getModel(name);
  }

  async getModel(name: string): Promise<RegisteredModel> {
    return (await this.withModelData([await this.modelRow(name)]))[0]!;
  }

  /**
   * The registered model as the authorization policy sees it: its team, and the error a missing
   * one gets, which a caller outside the team gets too. Versions, aliases and tags are the model's.
   */
  async modelResource(name: string): Promise<ResourceRef> {
    const row = await this.modelRow(name);
    return { kind: "model", id: row.name, team: row.team_id, notFound: () => missingModel(name) };
  }

  /**
   * What registering a version under `name` touches, for the policy: the model when it exists,
   * else the model about to be created, in the team it would go to (see registerVersion). A name
   * another team holds is taken (ALREADY_EXISTS), as when creating the model.
   */
  async registrationResource(input: { name: string; source: string; team?: string | undefined }, principal: Principal): Promise<ResourceRef> {
    const name = checkModelName(input.name);
    const existing = await this.store.getModelByName(name);
    if (existing) {
      const resource = await this.modelResource(name);
      if (!sees(principal, existing.team_id)) throw nameTaken(name);
      return resource;
    }
    return { kind: "model", id: name, team: await this.newModelTeam(principal, input.team, parseSource(input.source)) };
  }

  /**
   * The team a model created by registration goes to: the one asked for, else the source's (a
   * run's, a logged model's, a version's) when the caller is in it, else the caller's default.
   */
  private async newModelTeam(principal: Principal, requested: string | undefined, source: ModelSource): Promise<string> {
    let team = requested;
    if (!team) {
      const fromSource = await this.sourceTeam(source);
      if (fromSource && sees(principal, fromSource)) team = fromSource;
    }
    return teamForNew(this.deps.database.db, principal, team);
  }

  /** Throws what a missing source gets when the principal may not read what it names (or it does not exist). */
  private async sourceVisible(source: ModelSource, principal: Principal): Promise<void> {
    switch (source.kind) {
      case "run":
        return authorize(principal, "runs:read", await this.deps.tracking.runResource(source.runId));
      case "logged-model":
        return authorize(principal, "models:read", await this.deps.loggedModels.resource(source.modelId));
      case "version":
        return authorize(principal, "models:read", await this.modelResource(source.name));
    }
  }

  /** The team of what a source names; undefined when it does not exist. */
  private async sourceTeam(source: ModelSource): Promise<string | undefined> {
    const team = async (load: () => Promise<ResourceRef>) => (await load().catch(() => undefined))?.team;
    switch (source.kind) {
      case "run":
        return team(() => this.deps.tracking.runResource(source.runId));
      case "logged-model":
        return team(() => this.deps.loggedModels.resource(source.modelId));
      case "version":
        return team(() => this.modelResource(source.name));
    }
  }

  async renameModel(name: string, newName: string): Promise<RegisteredModel> {
    const row = await this.modelRow(name);
    const target = checkModelName(newName);
    const other = await this.store.getModelByName(target);
    if (other && other.model_id !== row.model_id) throw alreadyExists(`registered model '${target}' already exists; choose another name`);
    await this.store.updateModel(row.model_id, { name: target, last_update_time: this.deps.clock.now() });
    return this.getModel(target);
  }

  async updateModel(name: string, description: string | null | undefined): Promise<RegisteredModel> {
    const row = await this.modelRow(name);
    await this.store.updateModel(row.model_id, { description: checkDescription(description), last_update_time: this.deps.clock.now() });
    return this.getModel(name);
  }

  async deleteModel(name: string): Promise<void> {
    await this.store.deleteModel((await this.modelRow(name)).model_id);
  }

  async setModelTag(name: string, key: string, value: string): Promise<void> {
    const row = await this.modelRow(name);
    checkTag(key, value);
    await this.store.setModelTag(row.model_id, key, value);
  }

  async deleteModelTag(name: string, key: string): Promise<void> {
    const row = await this.modelRow(name);
    if (!(await this.store.deleteModelTag(row.model_id, key))) throw notFound(`registered model '${name}' has no tag '${key}'`);
  }

  /** A page of registered models; with `teams`, only those the teams own (filtered before the page is cut). */
  async searchModels(input: {
    filter?: string | undefined;
    orderBy?: string[] | undefined;
    maxResults?: number | undefined;
    pageToken?: string | undefined;
    teams?: string[] | undefined;
  }): Promise<{
    models: RegisteredModel[];
    nextPageToken?: string;
  }> {
    const clauses = parseFilter(input.filter, MODEL_FILTER, "registered model");
    const terms = parseOrderBy(input.orderBy, MODEL_ORDER, "registered model");
    terms.push({ key: "name", asc: true });
    const models = (await this.withModelData(await this.store.listModels(input.teams))).filter((m) => modelMatches(m, clauses));
    models.sort(comparator<RegisteredModel>(terms, (m, key) => m[key as keyof RegisteredModelRow]));
    const { items, nextPageToken } = page(models, clamp(input.maxResults, 100, 1000), input.pageToken);
    return { models: items, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * One page of models by name (only those of `teams` when given); `nextPageToken` is set when
   * more match. The token is the page's last name, not an offset, so models registered or deleted
   * between pages neither repeat nor hide others; one from another filter only says where names resume.
   */
  async listModels(input: { filter?: string | undefined; limit: number; pageToken?: string | undefined; teams?: string[] | undefined }): Promise<{
    models: RegisteredModel[];
    nextPageToken?: string;
  }> {
    const clauses = parseFilter(input.filter, MODEL_FILTER, "registered model");
    const after = input.pageToken === undefined ? undefined : decodeNameToken(input.pageToken);
    // JavaScript's order of names, not the database's collation, so the token's comparison agrees with the sort on every dialect.
    let rows = (await this.store.listModels(input.teams))
      .filter((r) => (after === undefined || r.name > after) && clauses.every((c) => c.entity !== "attribute" || matches(r.name, c)))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Tags, aliases and versions are read only for the rows that can be on the page.
    if (clauses.every((c) => c.entity === "attribute")) rows = rows.slice(0, input.limit + 1);
    const models = (await this.withModelData(rows)).filter((m) => modelMatches(m, clauses));
    const { page, nextPageToken } = cutPage(models, input.limit, (last) => encodeNameToken(last.name));
    return { models: page, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  private async modelRow(name: string): Promise<RegisteredModelRow> {
    const row = typeof name === "string" && name ? await this.store.getModelByName(name) : undefined;
    if (!row) throw missingModel(name);
    return row;
  }

  private async withModelData(rows: RegisteredModelRow[]): Promise<RegisteredModel[]> {
    const ids = rows.map((r) => r.model_id);
    const [tags, aliases] = await Promise.all([this.store.modelTags(ids), this.store.aliases(ids)]);
    const latest = new Map<string, ModelVersionRow>();
    for (const v of await this.store.listVersions(ids)) {
      const current = latest.get(v.model_id);
      if (!current || v.version > current.version) latest.set(v.model_id, v);
    }
    const latestVersions = await this.withVersionData(rows, [...latest.values()]);
    return rows.map((r) => ({
      ...r,
      tags: tags.get(r.model_id) ?? [],
      aliases: aliases.get(r.model_id) ?? [],
      latest: latestVersions.find((v) => v.model_id === r.model_id),
    }));
  }

  // ---- versions ----

  /**
   * Registers a version: validates the source, copies every file under it into the registry (new
   * rows pointing at the same blobs), reads an ONNX signature and captures the run's lineage.
   * With `principal`, every run, logged model and version the request names must be readable by
   * it (else it answers as missing); whoever asks, they must belong to the model's team.
   */
  async createVersion(input: {
    name: string;
    source: string;
    runId?: string | null | undefined;
    description?: string | null | undefined;
    tags?: KeyValue[] | undefined;
    userId: string;
    loggedModelId?: string | null | undefined;
    principal?: Principal | undefined;
  }): Promise<ModelVersion> {
    const model = await this.modelRow(input.name);
    const source = parseSource(input.source);
    for (const t of input.tags ?? []) checkTag(t.key, t.value);
    const description = checkDescription(input.description);
    const scope: SourceScope = { model: model.name, team: model.team_id, principal: input.principal };
    const resolved = await this.resolveSource(source, input.runId ?? undefined, scope);
    if (input.loggedModelId && resolved.loggedModelId && input.loggedModelId !== resolved.loggedModelId) {
      throw invalidInput(`model_id '${input.loggedModelId}' does not match the source's logged model '${resolved.loggedModelId}'`);
    }
    if (input.loggedModelId && !resolved.loggedModelId) await this.reach(() => this.deps.loggedModels.resource(input.loggedModelId!), "models:read", scope, `logged model '${input.loggedModelId}'`);
    // A version's files are copied (as rows over content-addressed blobs): they count against the team's storage.
    await this.deps.storageQuota?.(model.team_id, resolved.files.reduce((n, f) => n + f.size, 0), `registering a version of '${model.name}' (its files are copied into the registry)`);
    const signature = await this.signatureOf(resolved.files);
    const lineage = resolved.runId ? await this.lineageOf(resolved.runId) : resolved.lineage;
    const now = this.deps.clock.now();
    const version = await this.store.insertVersion(
      {
        model_id: model.model_id,
        source: input.source,
        run_id: resolved.runId ?? null,
        logged_model_id: resolved.loggedModelId ?? input.loggedModelId ?? null,
        status: "READY",
        current_stage: "None",
        description,
        user_id: input.userId,
        signature: signature ? JSON.stringify(signature) : null,
        lineage: lineage ? JSON.stringify(lineage) : null,
        creation_time: now,
        last_update_time: now,
      },
      [...new Map((input.tags ?? []).map((t) => [t.key, t])).values()],
      resolved.files,
    );
    this.deps.logger.info({ model: model.name, version, files: resolved.files.length, source: input.source }, "model version registered");
    return this.getVersion(model.name, version);
  }

  /**
   * Registers a version, creating the registered model first when it does not exist (like
   * mlflow.register_model). A new model goes to `team` when given, else to the source's team when
   * the caller is in it, else to the caller's default (identity's `teamForNew`); with `principal`,
   * it must be allowed `models:write` there. An existing model keeps its team.
   */
  async registerVersion(input: {
    name: string;
    source: string;
    description?: string | undefined;
    userId: string;
    team?: string | undefined;
    principal?: Principal | undefined;
  }): Promise<ModelVersion> {
    const name = checkModelName(input.name);
    const source = parseSource(input.source);
    if (!(await this.store.getModelByName(name))) {
      // What the caller cannot read answers as missing before anything is created.
      if (input.principal) await this.sourceVisible(source, input.principal);
      const team = input.principal ? await this.newModelTeam(input.principal, input.team, source) : (input.team ?? (await this.sourceTeam(source)));
      if (!team) throw invalidInput(`say which team the new registered model '${name}' goes to`);
      const fromSource = await this.sourceTeam(source);
      if (fromSource !== undefined && fromSource !== team) {
        throw invalidInput(
          `'${input.source}' belongs to team '${fromSource}', and the new registered model '${name}' would go to team '${team}'; a version's files stay in their team, so leave the team out (or name '${fromSource}')`,
        );
      }
      if (input.principal) authorize(input.principal, "models:write", { kind: "model", id: name, team });
      try {
        await this.createModel({ name, team, userId: input.userId });
      } catch (error) {
        if (!(await this.store.getModelByName(name))) throw error;
      }
    }
    const model = await this.modelRow(name);
    // Again now that it exists: another request may have created it meanwhile.
    if (input.principal) {
      if (!sees(input.principal, model.team_id)) throw nameTaken(name);
      authorize(input.principal, "models:write", await this.modelResource(name));
    }
    if (input.team && input.team !== model.team_id) {
      throw invalidInput(`registered model '${name}' belongs to team '${model.team_id}', not '${input.team}'; leave the team out to add a version to it, or register under another name`);
    }
    return this.createVersion({ ...input, name });
  }

  async getVersion(name: string, version: string | number): Promise<ModelVersion> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    return (await this.withVersionData([model], [row]))[0]!;
  }

  /** A version by number or by alias. */
  async resolveVersion(name: string, versionOrAlias: string): Promise<ModelVersion> {
    return /^\d+$/.test(versionOrAlias) ? this.getVersion(name, versionOrAlias) : this.getVersionByAlias(name, versionOrAlias);
  }

  async updateVersion(name: string, version: string | number, description: string | null | undefined): Promise<ModelVersion> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    await this.store.updateVersion(model.model_id, row.version, { description: checkDescription(description), last_update_time: this.deps.clock.now() });
    return this.getVersion(name, row.version);
  }

  async deleteVersion(name: string, version: string | number): Promise<void> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    await this.store.deleteVersion(model.model_id, row.version);
    await this.store.updateModel(model.model_id, { last_update_time: this.deps.clock.now() });
  }

  async setVersionTag(name: string, version: string | number, key: string, value: string): Promise<void> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    checkTag(key, value);
    await this.store.setVersionTag(model.model_id, row.version, key, value);
  }

  async deleteVersionTag(name: string, version: string | number, key: string): Promise<void> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    if (!(await this.store.deleteVersionTag(model.model_id, row.version, key))) throw notFound(`version ${row.version} of '${name}' has no tag '${key}'`);
  }

  /** A page of model versions; with `teams`, only versions of models the teams own (filtered before the page is cut). */
  async searchVersions(input: {
    filter?: string | undefined;
    orderBy?: string[] | undefined;
    maxResults?: number | undefined;
    pageToken?: string | undefined;
    teams?: string[] | undefined;
  }): Promise<{
    versions: ModelVersion[];
    nextPageToken?: string;
  }> {
    const clauses = parseFilter(input.filter, VERSION_FILTER, "model version");
    const terms = parseOrderBy(input.orderBy, VERSION_ORDER, "model version");
    terms.push({ key: "last_update_time", asc: false }, { key: "name", asc: true }, { key: "version", asc: false });
    const nameClauses = clauses.filter((c) => c.entity === "attribute" && c.key === "name" && c.op === "=");
    let models = await this.store.listModels(input.teams);
    if (nameClauses.length) models = models.filter((m) => nameClauses.every((c) => c.value === m.name));
    const rows = models.length ? await this.store.listVersions(models.map((m) => m.model_id)) : [];
    const versions = (await this.withVersionData(models, rows)).filter((v) =>
      clauses.every((c) => {
        if (c.entity === "tag") return matches(v.tags.find((t) => t.key === c.key)?.value, c);
        if (c.entity !== "attribute") return false;
        switch (c.key) {
          case "name":
            return matches(v.name, c);
          case "run_id":
            return matches(v.run_id ?? undefined, c);
          case "source":
          case "source_path":
            return matches(v.source, c);
          case "version":
          case "version_number":
            return matches(String(v.version), c);
          case "status":
            return matches(v.status, c);
          default:
            return matches(v.user_id, c);
        }
      }),
    );
    versions.sort(comparator<ModelVersion>(terms, (v, key) => v[key as keyof ModelVersion] as string | number | null));
    const { items, nextPageToken } = page(versions, clamp(input.maxResults, 10_000, 200_000), input.pageToken);
    return { versions: items, ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /** The newest version per stage (every version is in stage "None" here). */
  async latestVersions(name: string, stages: string[] | undefined): Promise<ModelVersion[]> {
    const model = await this.getModel(name);
    if (!model.latest) return [];
    const wanted = (stages ?? []).map((s) => s.toLowerCase());
    return !wanted.length || wanted.includes("none") ? [model.latest] : [];
  }

  // ---- aliases ----

  /** Registers a guard that every alias move must pass (higher modules, e.g. evaluation gates, hook in here). */
  addAliasGuard(guard: AliasGuard): void {
    this.aliasGuards.push(guard);
  }

  /** Points `alias` at a version; an existing alias moves. Alias guards run first. */
  async setAlias(
    name: string,
    alias: string,
    version: string | number,
    options: { actor?: Principal; force?: boolean | undefined; reason?: string | undefined } = {},
  ): Promise<ModelVersion> {
    const model = await this.modelRow(name);
    checkAlias(alias);
    const row = await this.versionRow(model, parseVersion(version));
    if (this.aliasGuards.length) {
      const [full] = await this.withModelData([model]);
      for (const guard of this.aliasGuards) await guard({ model: full!, alias, version: row.version, ...options });
    }
    await this.store.setAlias(model.model_id, alias, row.version);
    await this.store.updateModel(model.model_id, { last_update_time: this.deps.clock.now() });
    return this.getVersion(name, row.version);
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    const model = await this.modelRow(name);
    if (!(await this.store.deleteAlias(model.model_id, alias))) {
      throw notFound(`registered model '${name}' has no alias '${alias}'; see its aliases with \`paved models show ${name}\``);
    }
    await this.store.updateModel(model.model_id, { last_update_time: this.deps.clock.now() });
  }

  async getVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    const model = await this.getModel(name);
    const found = model.aliases.find((a) => a.alias === alias);
    if (!found) {
      const known = model.aliases.map((a) => a.alias).join(", ") || "none";
      throw notFound(`registered model '${name}' has no alias '${alias}'; its aliases: ${known}`);
    }
    return this.getVersion(name, found.version);
  }

  // ---- files ----

  /** `mlflow-artifacts:/registry/<name>/<version>`: the artifact proxy serves the copied files there. */
  downloadUri(version: ModelVersion): string {
    return `mlflow-artifacts:/${REGISTRY_PROXY_ROOT}/${encodeURIComponent(version.name)}/${version.version}`;
  }

  async files(name: string, version: string | number): Promise<{ path: string; digest: string; size: number }[]> {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    return (await this.store.versionFiles(model.model_id, row.version)).map((f) => ({ path: f.path, digest: f.digest, size: f.size }));
  }

  async openFile(name: string, version: string | number, path: string): Promise<{ stream: Readable; size: number }> {
    const file = await this.versionFile(name, version, path);
    return { stream: await this.deps.artifacts.get(file.digest), size: file.size };
  }

  /** A presigned URL that downloads one file of a version straight from the object store (S3 store only; UNSUPPORTED otherwise). */
  async fileDownloadUrl(name: string, version: string | number, path: string): Promise<string> {
    const file = await this.versionFile(name, version, path);
    return presignedDownloadUrl(this.deps.artifacts, file.digest, file.path);
  }

  private async versionFile(name: string, version: string | number, path: string) {
    const model = await this.modelRow(name);
    const row = await this.versionRow(model, parseVersion(version));
    const relative = confinePath(path, "file path");
    const file = await this.store.getVersionFile(model.model_id, row.version, relative);
    if (!file) throw notFound(`version ${row.version} of '${name}' has no file '${relative}'; see its files with \`paved models show ${name}@${row.version}\``);
    return file;
  }

  /** Maps a proxy path `registry/<name>/<version>[/<path>]`; undefined when it is not a registry path. */
  resolveProxyPath(path: string): { name: string; version: number; relative: string } | undefined {
    const segments = path.split("/").filter((s) => s !== "" && s !== ".");
    if (segments[0] !== REGISTRY_PROXY_ROOT) return undefined;
    const fix = "registry artifact paths look like registry/<model name>/<version>/<file>";
    const [, rawName, version, ...rest] = segments;
    if (!rawName || !version) throw invalidInput(`invalid registry artifact path '${path}'; ${fix}`);
    let name = rawName;
    try {
      // Names never contain '%', so a '%' means the client kept the URI's encoding.
      if (name.includes("%")) name = decodeURIComponent(name);
    } catch {
      throw invalidInput(`invalid registry artifact path '${path}'; ${fix}`);
    }
    const relative = rest.join("/");
    return { name, version: parseVersion(version), relative: relative ? confinePath(relative, "file path") : "" };
  }

  /** The model a registry proxy path belongs to, for the policy; undefined for paths outside the registry. */
  async proxyResource(path: string): Promise<ResourceRef | undefined> {
    const resolved = this.resolveProxyPath(path);
    return resolved ? this.modelResource(resolved.name) : undefined;
  }

  /** Proxy listing of a version folder; undefined for paths outside the registry. */
  async listProxyPath(path: string): Promise<ArtifactFile[] | undefined> {
    const resolved = this.resolveProxyPath(path);
    if (!resolved) return undefined;
    const model = await this.modelRow(resolved.name);
    const row = await this.versionRow(model, resolved.version);
    const rows = await this.store.versionFiles(model.model_id, row.version, resolved.relative ? `${resolved.relative}/` : "");
    return listDirectory(rows, resolved.relative);
  }

  // ---- internals ----

  private async versionRow(model: RegisteredModelRow, version: number): Promise<ModelVersionRow> {
    const row = await this.store.getVersion(model.model_id, version);
    if (!row) throw notFound(`registered model '${model.name}' has no version ${version}; its newest is ${model.max_version || "none"}`);
    return row;
  }

  private async withVersionData(models: RegisteredModelRow[], rows: ModelVersionRow[]): Promise<ModelVersion[]> {
    const ids = [...new Set(rows.map((r) => r.model_id))];
    const [tags, aliases] = await Promise.all([this.store.versionTags(ids), this.store.aliases(ids)]);
    const names = new Map(models.map((m) => [m.model_id, m.name]));
    return rows.map((r) => ({
      ...r,
      name: names.get(r.model_id) ?? "",
      tags: tags.get(`${r.model_id}/${r.version}`) ?? [],
      aliases: (aliases.get(r.model_id) ?? []).filter((a) => a.version === r.version).map((a) => a.alias),
    }));
  }

  /**
   * Loads what a version's source (or its run_id, model_id) names and checks it against the scope:
   * the caller must be allowed `action` on it (another team's answers exactly as a missing one),
   * and it must lie in the model's team.
   */
  private async reach(load: () => Promise<ResourceRef>, action: Action, scope: SourceScope, what: string): Promise<ResourceRef> {
    const resource = await load();
    if (scope.principal) authorize(scope.principal, action, resource);
    if (resource.team !== scope.team) {
      throw invalidInput(
        `${what} belongs to team '${resource.team}', registered model '${scope.model}' to team '${scope.team}'; a version's files stay in their team, so register it into a model of team '${resource.team}'`,
      );
    }
    return resource;
  }

  /** The files a source names, relative to the source folder, plus its run and logged model. */
  private async resolveSource(
    source: ModelSource,
    runId: string | undefined,
    scope: SourceScope,
  ): Promise<{ files: { path: string; digest: string; size: number }[]; runId?: string; loggedModelId?: string; lineage?: LineageView | null }> {
    const requireFiles = (blobs: ArtifactBlob[], what: string) => {
      if (!blobs.length) throw invalidInput(`${what} has no files; log the model's files first, then register it`);
      return blobs;
    };
    switch (source.kind) {
      case "run": {
        if (runId && runId !== source.runId) throw invalidInput(`run_id '${runId}' does not match the source's run '${source.runId}'`);
        await this.reach(() => this.deps.tracking.runResource(source.runId), "runs:read", scope, `run '${source.runId}'`);
        const run = await this.deps.tracking.getRun(source.runId);
        if (source.experimentId && run.info.experiment_id !== source.experimentId) {
          throw notFound(`run '${source.runId}' is not in experiment '${source.experimentId}'; copy the run's artifact_uri unchanged`);
        }
        const blobs = await this.deps.tracking.artifactBlobs(source.runId, source.path || undefined);
        if (!blobs.length && source.path) {
          // MLflow 3 logs a model's files to a logged model that names the run, not to the run.
          const logged = await this.deps.loggedModels.findByRun(source.runId, source.path);
          if (logged) {
            await this.reach(() => this.deps.loggedModels.resource(logged.model_id), "models:read", scope, `logged model '${logged.model_id}'`);
            const files = requireFiles(await this.deps.loggedModels.blobs(logged.model_id, ""), `logged model '${logged.model_id}'`);
            return { files: relativeTo(files, ""), runId: source.runId, loggedModelId: logged.model_id };
          }
        }
        return { files: relativeTo(requireFiles(blobs, `run '${source.runId}' at '${source.path || "/"}'`), source.path), runId: source.runId };
      }
      case "logged-model": {
        await this.reach(() => this.deps.loggedModels.resource(source.modelId), "models:read", scope, `logged model '${source.modelId}'`);
        const logged = await this.deps.loggedModels.get(source.modelId);
        if (source.experimentId && logged.experiment_id !== source.experimentId) throw notFound(`logged model '${source.modelId}' is not in experiment '${source.experimentId}'`);
        if (runId && logged.source_run_id && runId !== logged.source_run_id) {
          throw invalidInput(`run_id '${runId}' does not match the logged model's run '${logged.source_run_id}'`);
        }
        if (runId && !logged.source_run_id) await this.reach(() => this.deps.tracking.runResource(runId), "runs:read", scope, `run '${runId}'`);
        const blobs = requireFiles(await this.deps.loggedModels.blobs(source.modelId, source.path), `logged model '${source.modelId}' at '${source.path || "/"}'`);
        const linkedRun = logged.source_run_id ?? runId;
        return { files: relativeTo(blobs, source.path), loggedModelId: logged.model_id, ...(linkedRun ? { runId: linkedRun } : {}) };
      }
      case "version": {
        await this.reach(() => this.modelResource(source.name), "models:read", scope, `registered model '${source.name}'`);
        const from = await this.getVersion(source.name, source.version);
        const files = await this.files(source.name, source.version);
        if (runId) await this.reach(() => this.deps.tracking.runResource(runId), "runs:read", scope, `run '${runId}'`);
        const linkedRun = runId ?? from.run_id ?? undefined;
        return {
          files,
          ...(linkedRun ? { runId: linkedRun } : {}),
          ...(from.logged_model_id ? { loggedModelId: from.logged_model_id } : {}),
          lineage: from.lineage ? (JSON.parse(from.lineage) as LineageView) : null,
        };
      }
    }
  }

  private async lineageOf(runId: string): Promise<LineageView> {
    const run = await this.deps.tracking.getRun(runId);
    const view = runView(run);
    return {
      runId,
      experimentId: run.info.experiment_id,
      commit: view.source.commit,
      datasets: run.inputs.map((i) => ({ name: i.name, digest: i.digest, source: i.source, sourceType: i.source_type, context: i.context })),
      capturedAt: this.deps.clock.now(),
    };
  }

  /**
   * The signature of the version's ONNX model (the shallowest .onnx file: the one deployments and
   * evaluations load), or null. Read off the main thread, streamed and bounded; a model with
   * external data is refused here, so it never enters the registry.
   */
  private async signatureOf(files: { path: string; digest: string; size: number }[]): Promise<ModelSignature | null> {
    const onnx = files
      .filter((f) => f.path.toLowerCase().endsWith(".onnx"))
      .sort((a, b) => a.path.split("/").length - b.path.split("/").length || (a.path < b.path ? -1 : 1))[0];
    if (!onnx) return null;
    let inspection;
    try {
      inspection = await inspectOnnx(await this.deps.artifacts.get(onnx.digest), this.deps.onnx);
    } catch (error) {
      if (!(error instanceof MalformedOnnx)) throw error;
      this.deps.logger.warn({ file: onnx.path, reason: error.message }, "not a readable ONNX model; registered without a signature");
      return null;
    }
    refuseExternalData(inspection, `'${onnx.path}'`);
    return { file: onnx.path, inputs: inspection.inputs, outputs: inspection.outputs };
  }
}

/** Paths relative to the source folder; a source naming one file keeps its base name. */
function relativeTo(blobs: ArtifactBlob[], root: string): { path: string; digest: string; size: number }[] {
  return blobs.map((b) => ({
    path: b.path === root ? (b.path.split("/").pop() ?? b.path) : root ? b.path.slice(root.length + 1) : b.path,
    digest: b.digest,
    size: b.size,
  }));
}

function missingModel(name: string) {
  return notFound(`registered model '${name}' does not exist; list models with \`paved models ls\` or registered-models/search`);
}

/** Names are unique across teams (MLflow's semantics): the answer says only that the name is taken. */
function nameTaken(name: string) {
  return alreadyExists(`registered model name '${name}' is taken (names are unique across all teams); choose another name, or register a new version if the model is your team's`);
}

/** Whether the principal belongs to the team (a job's token: its job's team). */
function sees(principal: Principal, team: string): boolean {
  return principal.platformAdmin || principal.teams[team] !== undefined || (principal.kind === "job" && principal.team === team);
}

/** Whether a model meets every clause of a model filter (name and tags; a param never matches). */
function modelMatches(m: RegisteredModel, clauses: Clause[]): boolean {
  return clauses.every((c) => matches(c.entity === "tag" ? m.tags.find((t) => t.key === c.key)?.value : c.entity === "attribute" ? m.name : undefined, c));
}

function clamp(max: number | undefined, fallback: number, limit: number): number {
  if (max === undefined || max === null) return fallback;
  if (!Number.isInteger(max) || max < 1 || max > limit) throw invalidInput(`max_results must be an integer from 1 to ${limit}; got ${max}`);
  return max;
}
