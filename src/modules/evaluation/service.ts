import type { Kysely } from "kysely";
import type { Readable } from "node:stream";
import type { ArtifactStore } from "../../artifacts/index.ts";
import { PlatformError, decodePositionToken, encodePositionToken, invalidInput, isPlatformError, notFound, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef, cutPage } from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { authorize, teamForNew, visibleTeams } from "../identity/index.ts";
import type { AliasChange, ModelVersion, RegisteredModel, RegistryService } from "../registry/index.ts";
import { cardFeatures, cardTags } from "./checks/compliance.ts";
import { checkTableHead, readTableOffThread } from "./data.ts";
import { idleChecks, parsePolicy, type VersionedPolicy } from "./policy.ts";
import { DATATYPES, GATED_ALIAS, type EvaluationRequest, type FeatureMatch } from "./runner.ts";
import type { CheckResult, EvaluateBody, EvaluationUploadView, EvaluationView, GatePolicy, GatePolicyChangeView, GatePolicyView, GateStatusView } from "./schema.ts";
import { DATA_SCHEMES, parseDataUri, uploadUri, type DataResolver, type ResolvedData } from "./sources.ts";
import { JUDGED_PHASES, UNFINISHED_PHASES, type EvaluationPhase, type EvaluationRow, type EvaluationStore, type PolicyChangeRow } from "./store.ts";

export { GATED_ALIAS } from "./runner.ts";

export interface EvaluationDeps {
  store: EvaluationStore;
  /** Where teams and memberships are read, to place an upload in its team. */
  db: Kysely<Tables>;
  registry: RegistryService;
  /** Resolves data URIs to stored blobs; the only way evaluation reads data. */
  data: DataResolver;
  /** Where uploaded CSVs are kept. */
  artifacts: ArtifactStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** The policy of models without their own. */
  defaultPolicy: VersionedPolicy;
  /** Tells the runner there is work. */
  kick: () => void;
  /** Refuses (QUOTA_EXCEEDED) storing `bytes` more for a team past its artifact storage quota (guardrails' ledger); unset: unlimited. */
  storageQuota?: (team: string, bytes: number, what: string) => Promise<void>;
  /** The gate policy a team's models must be judged by, if a platform or team policy requires one (app.ts connects guardrails'). */
  requiredPolicy?: RequiredGatePolicyHook;
}

/**
 * The gate policy a policy in force requires of a team's models (its version and where the rule
 * comes from), or undefined: the models use their own, or the default.
 */
export type RequiredGatePolicyHook = (team: string) => Promise<{ policy: unknown; version: string; scope: string; policyVersion: number } | undefined>;

/** What a monitor compares a version's live traffic with (EvaluationService.monitorBasis). */
export interface MonitorBasis {
  /** The evaluation whose data it is. */
  evaluationId: string;
  source: { uri: string; kind: "reference" | "evaluation data" };
  /** The model's features in the order it takes them (a live row's value i is feature i). */
  features: string[];
  /** The data's column of each feature it holds (reference data may lack some). */
  columns: Map<string, Float64Array>;
  policy: VersionedPolicy;
}

/** How to give reference data, for messages. */
const REFERENCE_FIX = "pass --reference <training CSV> (a local file is uploaded) or --reference runs:/<run_id>/<path>";

/** Accepts evaluations (the runner runs them), reads them back, and guards the production alias. */
export class EvaluationService {
  private readonly store: EvaluationStore;

  constructor(private readonly deps: EvaluationDeps) {
    this.store = deps.store;
  }

  // ---- what the policy sees ----

  /** The model a gate-policy, gate-status or evaluation route is about: its team decides. */
  modelResource(name: string): Promise<ResourceRef> {
    return this.deps.registry.modelResource(name);
  }

  /** An evaluation belongs to its model's team; one of another team answers as a missing one. */
  async evaluationResource(id: string): Promise<ResourceRef> {
    const row = await this.store.getEvaluation(id);
    if (!row) throw missingEvaluation(id);
    return { kind: "evaluation", id, team: row.team_id, notFound: () => missingEvaluation(id) };
  }

  /**
   * Where an upload goes: the team of the model it is for (`model`), else the one asked for
   * (`team`), else the caller's default (identity's teamForNew). A model outside the caller's
   * teams answers as a missing one.
   */
  async uploadResource(target: { model?: string | undefined; team?: string | undefined }, principal: Principal): Promise<ResourceRef> {
    if (target.model !== undefined && target.team !== undefined) throw invalidInput("give model or team for the upload, not both (the upload goes to the model's team)");
    if (target.model !== undefined) {
      const model = await this.deps.registry.modelResource(target.model);
      return { kind: "upload", id: "(new)", team: model.team!, ...(model.notFound ? { notFound: model.notFound } : {}) };
    }
    return { kind: "upload", id: "(new)", team: await teamForNew(this.deps.db, principal, target.team) };
  }

  // ---- policies ----

  async getPolicy(name: string): Promise<GatePolicyView> {
    const model = await this.deps.registry.getModel(name);
    const required = await this.deps.requiredPolicy?.(model.team_id);
    if (required) return { model: model.name, version: required.version, source: "required", policy: required.policy as GatePolicy, updatedBy: null, updatedAt: null };
    return this.ownPolicy(model);
  }

  /** The model's own policy, or the default (what a policy's requiredGatePolicy takes the place of). */
  private async ownPolicy(model: RegisteredModel): Promise<GatePolicyView> {
    const row = await this.store.getPolicy(model.model_id);
    if (!row) return { model: model.name, version: this.deps.defaultPolicy.version, source: "default", policy: this.deps.defaultPolicy.policy, updatedBy: null, updatedAt: null };
    return { model: model.name, version: row.policy_version, source: "model", policy: JSON.parse(row.policy), updatedBy: row.updated_by, updatedAt: row.updated_at };
  }

  /**
   * Stores a model's own policy (YAML/JSON text or an object) and records the change (who, when,
   * the policy before and after); evaluations under other policies stop counting for the gate.
   * A policy with a check that bounds nothing is refused.
   */
  async putPolicy(name: string, input: unknown, user: string): Promise<GatePolicyView> {
    const model = await this.deps.registry.getModel(name);
    const parsed = parsePolicy(input);
    const required = await this.deps.requiredPolicy?.(model.team_id);
    if (required && required.version !== parsed.version) {
      const where = required.scope === "platform" ? "the platform policy" : `team ${model.team_id}'s policy`;
      const message = `${where} (version ${required.policyVersion}) requires gate policy ${required.version} for the models of team ${model.team_id}, and this one is ${parsed.version}; the gate judges '${model.name}' by the required one (\`paved evaluations policy show ${model.name}\`), so store that one or none`;
      throw new PlatformError("FORBIDDEN", `refused by policy (rule requiredGatePolicy): ${message}`, {
        rule: "requiredGatePolicy",
        scope: required.scope,
        policyVersion: required.policyVersion,
        required: required.version,
        violations: [{ rule: "requiredGatePolicy", scope: required.scope, version: required.policyVersion, message }],
      });
    }
    const previous = await this.ownPolicy(model);
    const now = this.deps.clock.now();
    await this.store.putPolicy(
      { model_id: model.model_id, policy: JSON.stringify(parsed.policy), policy_version: parsed.version, updated_by: user, updated_at: now },
      {
        id: this.deps.ids.prefixed("policy-change"),
        model_id: model.model_id,
        model_name: model.name,
        policy: JSON.stringify(parsed.policy),
        policy_version: parsed.version,
        previous_policy: JSON.stringify(previous.policy),
        previous_version: previous.version,
        previous_source: previous.source,
        user_id: user,
        created_at: now,
      },
    );
    this.deps.logger.info({ model: model.name, policyVersion: parsed.version, previousVersion: previous.version, user }, "gate policy changed");
    return this.getPolicy(name);
  }

  /** Every recorded change of the model's policy, newest first. */
  async policyHistory(name: string, limit: number): Promise<GatePolicyChangeView[]> {
    const model = await this.deps.registry.getModel(name);
    return (await this.store.listPolicyChanges(model.model_id, limit)).map((row) => policyChangeView(row, model.name));
  }

  // ---- data ----

  /**
   * Stores a CSV sent by a client in `team`, bounded by `evaluation.maxDataBytes`; answers the
   * `uploads:/<sha256>` URI that evaluations of the team's models may use.
   */
  async upload(body: Readable | undefined, user: string, team: string): Promise<EvaluationUploadView> {
    if (!body) throw invalidInput("send the CSV's bytes as the request body (content-type text/csv or application/octet-stream)");
    await this.deps.storageQuota?.(team, 0, "uploading evaluation data");
    const limit = this.deps.data.maxBytes;
    let blob: { digest: string; size: number };
    try {
      blob = await this.deps.artifacts.put(body, { maxBytes: limit });
    } catch (error) {
      if (isPlatformError(error) && error.code === "PAYLOAD_TOO_LARGE") {
        throw new PlatformError("PAYLOAD_TOO_LARGE", `evaluation data is larger than the ${limit}-byte limit; evaluate on a sample (or raise evaluation.maxDataBytes)`);
      }
      throw error;
    }
    await this.store.putUpload({ team_id: team, digest: blob.digest, size: blob.size, user_id: user, created_at: this.deps.clock.now() });
    this.deps.logger.info({ digest: blob.digest, size: blob.size, user, team }, "evaluation data uploaded");
    return { uri: uploadUri(blob.digest), digest: `sha256:${blob.digest}`, size: blob.size, team };
  }

  // ---- evaluations ----

  /**
   * Validates an evaluation request (version, ONNX input, data URIs, CSV headers against the
   * model's features) and stores it Pending under the model's current policy; the runner runs it.
   * Errors a user can fix now are thrown here, before anything is stored.
   */
  async evaluate(name: string, versionRef: string, body: EvaluateBody, user: string): Promise<EvaluationView> {
    const version = await this.deps.registry.resolveVersion(name, versionRef);
    const model = await this.deps.registry.getModel(name);
    const { policy, version: policyVersion } = await this.policyOf(model);
    const idle = idleChecks(policy);
    if (idle.length) {
      throw invalidInput(
        `the gate policy ${policyVersion} of '${model.name}' has checks that bound nothing (${idle.map((p) => p.path).join(", ")}), so it cannot judge a version; store one that does with \`paved evaluations policy set ${model.name} -f <policy.yaml>\``,
      );
    }
    const signature = version.signature ? (JSON.parse(version.signature) as { inputs: { name: string; type: string; shape: (number | string | null)[] | null }[] }) : null;
    const input = signature?.inputs[0];
    if (!input) throw invalidInput(`version ${version.version} of '${name}' has no ONNX signature; evaluation runs ONNX models (register a version holding a .onnx file)`);
    if (!DATATYPES[input.type]) throw invalidInput(`the model's input '${input.name}' is ${input.type}; evaluation feeds numeric features (float32, float64, int64, int32)`);
    const sensitive = [...new Set([...body.sensitive, ...policy.checks.flatMap((c) => (c.type === "bias" ? [c.sensitiveColumn] : []))])];

    // Parse both URIs before reading anything, so a bad reference is refused as cheaply as bad data.
    parseDataUri(body.data, "evaluation data");
    if (body.reference !== undefined) parseDataUri(body.reference, "reference data");
    // The evaluation belongs to the model's team, and reads only that team's data.
    const team = model.team_id;
    const data = await this.deps.data.resolve(body.data, "evaluation data", team);
    const reference = await this.reference(version, body.reference, sensitive, team);

    // The model's feature names: its card's `features`, else the reference (training) header.
    const declared = cardFeatures(cardTags(model, version));
    const names =
      declared.length > 0
        ? { names: declared, from: "the model_card.features tag" }
        : reference.data
          ? { names: reference.header.filter((h) => h !== body.label && !sensitive.includes(h)), from: `the header of the reference data '${reference.data.uri}'` }
          : undefined;
    let checked: { features: string[] };
    try {
      checked = checkTableHead(await this.deps.data.head(data), { label: body.label, sensitive, what: `evaluation data '${data.uri}'`, features: names });
    } catch (error) {
      // Names taken from a lineage dataset that is not the training CSV: say which file it was.
      if (!declared.length && reference.origin !== "explicit" && reference.data && isPlatformError(error) && error.details?.missing) {
        throw invalidInput(`${error.message}. The feature names came from ${reference.origin} ('${reference.data.uri}'), used as the reference by default; if it is not the training CSV, ${REFERENCE_FIX}`, error.details);
      }
      throw error;
    }
    const width = input.shape?.at(-1);
    if (typeof width === "number" && input.shape!.length === 2 && checked.features.length !== width) {
      throw invalidInput(
        `the model's input '${input.name}' takes ${width} features per row; ${names ? `the model's feature names (${names.from}) are` : `evaluation data '${data.uri}' has`} ${checked.features.length}; ${names ? "fix the feature list" : "give one column per feature besides the label (and --sensitive columns)"}`,
      );
    }
    const features: FeatureMatch = names
      ? { matchedBy: "name", from: names.from, names: checked.features }
      : {
          matchedBy: "position",
          from: `the model names no features (no model_card.features tag and no reference data): columns are fed in file order; set the tag or ${REFERENCE_FIX} to match them by name`,
          names: checked.features,
        };

    const now = this.deps.clock.now();
    const request: EvaluationRequest = {
      label: body.label,
      sensitive,
      policy,
      data,
      reference: reference.data ?? null,
      referenceOrigin: reference.origin ?? null,
      referenceNote: reference.note ?? null,
      features,
    };
    const row: EvaluationRow = {
      id: this.deps.ids.prefixed("eval"),
      model_id: model.model_id,
      model_name: model.name,
      version: version.version,
      policy_version: policyVersion,
      data_path: data.uri,
      data_digest: "",
      reference_path: reference.data?.uri ?? null,
      passed: 0,
      checks: "[]",
      user_id: user,
      started_at: now,
      finished_at: 0,
      phase: "Pending",
      request: JSON.stringify(request),
      message: null,
      created_at: now,
      team_id: team,
    };
    await this.store.insertEvaluation(row);
    this.deps.logger.info({ model: model.name, version: version.version, evaluation: row.id, data: data.uri, reference: reference.data?.uri ?? null }, "evaluation accepted");
    this.deps.kick();
    return evaluationView(row);
  }

  async get(id: string): Promise<EvaluationView> {
    const row = await this.store.getEvaluation(id);
    if (!row) throw missingEvaluation(id);
    return evaluationView(row);
  }

  /** Evaluations of the teams `reader` may read (all without a reader), newest first; a model outside them answers as missing. */
  async list(
    filter: { model?: string | undefined; version?: string | undefined; limit: number; pageToken?: string | undefined },
    reader?: Principal,
  ): Promise<{ evaluations: EvaluationView[]; nextPageToken?: string }> {
    const before = filter.pageToken === undefined ? undefined : decodePositionToken(filter.pageToken);
    let modelId: string | undefined;
    if (filter.model !== undefined) {
      if (reader) authorize(reader, "evaluations:read", await this.deps.registry.modelResource(filter.model));
      modelId = (await this.deps.registry.getModel(filter.model)).model_id;
    }
    const teams = reader ? visibleTeams(reader, "evaluations:read") : undefined;
    const rows = await this.store.listEvaluations({ modelId, version: filter.version !== undefined ? Number(filter.version) : undefined, teams, before, limit: filter.limit + 1 });
    const { page, nextPageToken } = cutPage(rows, filter.limit, (last) => encodePositionToken({ createdAt: last.created_at, id: last.id }));
    return { evaluations: page.map(evaluationView), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  /**
   * Per version with evaluations under the model's current policy: what the gate decides now
   * (the verdict of the evaluation that finished last, Passed or Failed) and any evaluation still
   * Pending or Running.
   */
  async gateStatus(name: string): Promise<GateStatusView> {
    const model = await this.deps.registry.getModel(name);
    const { version: policyVersion } = await this.policyOf(model);
    const rows = await this.store.listEvaluations({ modelId: model.model_id, policyVersion, limit: 10_000 });
    const byVersion = new Map<number, EvaluationRow[]>();
    for (const row of rows) byVersion.set(row.version, [...(byVersion.get(row.version) ?? []), row]);
    const versions = [...byVersion.entries()]
      .sort(([a], [b]) => b - a)
      .map(([version, list]) => {
        // The same rule as `guard` (the store's latestEvaluation): the last to finish with a verdict.
        const decisive = list.filter((r) => JUDGED_PHASES.includes(r.phase as EvaluationPhase)).sort(byLatestFinished)[0];
        const unfinished = list.find((r) => UNFINISHED_PHASES.includes(r.phase as EvaluationPhase));
        const latest = list[0]!;
        return {
          version: String(version),
          gate: decisive ? (passes(decisive) ? ("passed" as const) : ("failed" as const)) : ("none" as const),
          evaluation: decisive?.id ?? null,
          inProgress: unfinished ? { id: unfinished.id, phase: unfinished.phase as EvaluationPhase } : null,
          latest: { id: latest.id, phase: latest.phase as EvaluationPhase },
        };
      });
    return { model: model.name, policyVersion, versions };
  }

  async overrides(name: string): Promise<{ id: string; version: number; alias: string; policyVersion: string; user: string; reason: string; createdAt: number }[]> {
    const model = await this.deps.registry.getModel(name);
    return (await this.store.listOverrides(model.model_id)).map((o) => ({ id: o.id, version: o.version, alias: o.alias, policyVersion: o.policy_version, user: o.user_id, reason: o.reason, createdAt: o.created_at }));
  }

  // ---- the gate ----

  /** Throws GATE_FAILED unless the version may go to production (its latest finished evaluation under the model's current policy passed). */
  async assertDeployable(name: string, version: number): Promise<void> {
    await this.guard({ model: await this.deps.registry.getModel(name), alias: GATED_ALIAS, version });
  }

  /**
   * Alias guard: `production` moves only to a version whose latest finished evaluation under the
   * model's current policy passed (an earlier pass does not outweigh a later failure), or by an
   * admin override.
   */
  readonly guard = async (change: AliasChange): Promise<void> => {
    if (change.alias !== GATED_ALIAS) return;
    const { policy, version: policyVersion } = await this.policyOf(change.model);
    if (change.force) {
      if (!change.actor) throw new PlatformError("FORBIDDEN", "forcing the production gate needs an admin's request; pass the gate with `paved evaluate` instead");
      authorize(change.actor, "gates:override", { kind: "model", id: change.model.name, team: change.model.team_id });
      const reason = change.reason?.trim();
      if (!reason) throw invalidInput("a forced production move needs a reason; pass reason (it is recorded)");
      await this.store.insertOverride({
        id: this.deps.ids.prefixed("override"),
        model_id: change.model.model_id,
        model_name: change.model.name,
        version: change.version,
        alias: change.alias,
        policy_version: policyVersion,
        user_id: change.actor.name,
        reason,
        created_at: this.deps.clock.now(),
      });
      this.deps.logger.warn({ model: change.model.name, version: change.version, user: change.actor.name, reason }, "production gate overridden");
      return;
    }
    const ref = `${change.model.name}@${change.version}`;
    const base = { model: change.model.name, version: String(change.version), policyVersion };
    const idle = idleChecks(policy);
    if (idle.length) {
      // A policy stored before such policies were refused: it would pass anything.
      throw new PlatformError(
        "GATE_FAILED",
        `the gate policy ${policyVersion} of '${change.model.name}' has checks that bound nothing (${idle.map((p) => p.path).join(", ")}); store one that does with \`paved evaluations policy set ${change.model.name} -f <policy.yaml>\`, evaluate ${ref}, then move the alias again`,
        { ...base, failedChecks: [] },
      );
    }
    const latest = await this.store.latestEvaluation(change.model.model_id, change.version, policyVersion);
    if (latest && passes(latest)) return;
    if (!latest) {
      const unfinished = await this.store.unfinishedEvaluation(change.model.model_id, change.version, policyVersion);
      if (unfinished) {
        throw new PlatformError(
          "GATE_FAILED",
          `version ${change.version} of '${change.model.name}' has no finished evaluation under its gate policy ${policyVersion}; evaluation ${unfinished.id} is ${unfinished.phase}: wait for it (\`paved evaluations show ${unfinished.id}\`), then move the alias again`,
          { ...base, evaluation: unfinished.id, phase: unfinished.phase, failedChecks: [] },
        );
      }
      throw new PlatformError(
        "GATE_FAILED",
        `version ${change.version} of '${change.model.name}' has no evaluation under its gate policy ${policyVersion}; run \`paved evaluate ${ref} --data <eval.csv>\`, then move the alias again`,
        { ...base, failedChecks: [] },
      );
    }
    const checks = JSON.parse(latest.checks) as CheckResult[];
    const failed = checks.filter((c) => !c.passed);
    const why = failed.length ? failed.map((c) => `${c.name}: ${c.hint}`).join(" | ") : "it recorded no check results";
    throw new PlatformError(
      "GATE_FAILED",
      `version ${change.version} of '${change.model.name}' failed its gate: the latest finished evaluation under policy ${policyVersion}, ${latest.id}, failed (${why}); the latest one decides, so an earlier pass does not count: fix this and run \`paved evaluate ${ref} --data <eval.csv>\` again (\`paved evaluations show ${latest.id}\` has the figures)`,
      { ...base, evaluation: latest.id, failedChecks: failed.map((c) => ({ name: c.name, hint: c.hint })) },
    );
  };

  // ---- internals ----

  private async policyOf(model: RegisteredModel): Promise<VersionedPolicy> {
    const required = await this.deps.requiredPolicy?.(model.team_id);
    if (required) return { policy: required.policy as GatePolicy, version: required.version };
    const row = await this.store.getPolicy(model.model_id);
    return row ? { policy: JSON.parse(row.policy) as GatePolicy, version: row.policy_version } : this.deps.defaultPolicy;
  }

  /**
   * What a monitor compares a version's live traffic with (issue 12): the reference data of the
   * version's newest evaluation that had some (its training data), else the newest evaluation's own
   * data (what the gate judged), as numeric columns by feature name in the order the model takes
   * them; and the model's gate policy, whose drift and performance bounds monitors apply. With no
   * evaluation holding data, INVALID_INPUT says how to attach some.
   */
  async monitorBasis(name: string, version: number): Promise<MonitorBasis> {
    const model = await this.deps.registry.getModel(name);
    await this.deps.registry.getVersion(name, version);
    const candidates = (await this.store.listEvaluations({ modelId: model.model_id, version, limit: 50 }))
      .filter((r) => r.phase !== "Error" && r.request !== null)
      .map((r) => ({ id: r.id, request: JSON.parse(r.request!) as EvaluationRequest }))
      .filter((r) => r.request.data !== undefined);
    const withReference = candidates.find((r) => r.request.reference);
    const row = withReference ?? candidates[0];
    if (!row) {
      throw invalidInput(
        `version ${version} of '${name}' has no reference data to monitor against: no evaluation of it read any data. Evaluate it first with its training data as the reference (\`paved evaluate ${name}@${version} --data <evaluation CSV> --reference <training CSV>\`); monitors compare live inputs with that reference`,
      );
    }
    const request = row.request;
    const source = withReference ? request.reference! : request.data!;
    const byName = request.features?.matchedBy === "name" ? { names: request.features.names, from: request.features.from } : undefined;
    const what = `${withReference ? "reference" : "evaluation"} data '${source.uri}'`;
    const table = await readTableOffThread(await this.deps.data.bytes(source, what), {
      sensitive: request.sensitive,
      what,
      features: byName,
      partial: true,
      ...(withReference ? {} : { label: request.label }),
    });
    const columns = new Map(table.features.map((f, i) => [f, Float64Array.from(table.rows, (r) => r[i]!)]));
    return {
      evaluationId: row.id,
      source: { uri: source.uri, kind: withReference ? "reference" : "evaluation data" },
      features: request.features?.names ?? table.features,
      columns,
      policy: await this.policyOf(model),
    };
  }

  /**
   * The reference data: the explicit one (errors refuse the request), else the version's lineage
   * dataset when its source is a platform URI (or a path relative to the source run's artifacts)
   * and a usable CSV; otherwise none, with a note saying what was tried and how to give one.
   */
  private async reference(
    version: ModelVersion,
    explicit: string | undefined,
    sensitive: string[],
    team: string,
  ): Promise<{ data?: ResolvedData; header: string[]; origin?: string; note?: string }> {
    if (explicit !== undefined) {
      const data = await this.deps.data.resolve(explicit, "reference data", team);
      const { header } = checkTableHead(await this.deps.data.head(data), { sensitive, what: `reference data '${data.uri}'` });
      return { data, header, origin: "explicit" };
    }
    const lineage = version.lineage ? (JSON.parse(version.lineage) as { runId?: string; datasets?: { name: string; source: string; context?: string | null }[] }) : null;
    const datasets = [...(lineage?.datasets ?? [])].sort((a, b) => Number(isTraining(b.context)) - Number(isTraining(a.context)));
    if (!datasets.length) return { header: [], note: `the version's lineage names no dataset to use as reference data; ${REFERENCE_FIX}` };
    const tried: string[] = [];
    for (const dataset of datasets) {
      const origin = `lineage dataset '${dataset.name}'${lineage?.runId ? ` of run ${lineage.runId}` : ""}`;
      const source = dataset.source.length > 200 ? `${dataset.source.slice(0, 200)}…` : dataset.source;
      // A bare relative path names an artifact of the run the version came from.
      const uri = lineage?.runId && /^[\w.-][\w./-]*$/.test(dataset.source) && !dataset.source.includes("..") ? `runs:/${lineage.runId}/${dataset.source}` : dataset.source;
      try {
        parseDataUri(uri, "reference data");
      } catch {
        tried.push(`${origin} has source '${source}', which is not a platform URI (${DATA_SCHEMES})`);
        continue;
      }
      try {
        const data = await this.deps.data.resolve(uri, "reference data", team);
        const { header } = checkTableHead(await this.deps.data.head(data), { sensitive, what: `reference data '${data.uri}'` });
        return { data, header, origin };
      } catch (error) {
        if (!isPlatformError(error)) throw error;
        tried.push(`${origin} ('${uri}') is not a usable CSV: ${error.message}`);
      }
    }
    return { header: [], note: `no reference data: ${tried.join("; ")}; ${REFERENCE_FIX}` };
  }
}

function missingEvaluation(id: string): Error {
  return notFound(`evaluation '${id}' does not exist; list evaluations with \`paved evaluations ls --model <name>\``);
}

function isTraining(context: string | null | undefined): boolean {
  return context === "training" || context === "train";
}

/** A verdict that lets the version through: Passed, with at least one check result. */
function passes(row: EvaluationRow): boolean {
  return row.passed === 1 && (JSON.parse(row.checks) as unknown[]).length > 0;
}

function byLatestFinished(a: EvaluationRow, b: EvaluationRow): number {
  return b.finished_at - a.finished_at || b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function policyChangeView(row: PolicyChangeRow, model: string): GatePolicyChangeView {
  return {
    id: row.id,
    model,
    version: row.policy_version,
    policy: JSON.parse(row.policy) as GatePolicy,
    previous:
      row.previous_policy !== null && row.previous_version !== null
        ? { version: row.previous_version, source: row.previous_source === "default" ? "default" : "model", policy: JSON.parse(row.previous_policy) as GatePolicy }
        : null,
    user: row.user_id,
    createdAt: row.created_at,
  };
}

function evaluationView(row: EvaluationRow): EvaluationView {
  const finished = !UNFINISHED_PHASES.includes(row.phase as EvaluationPhase);
  const request = row.request ? (JSON.parse(row.request) as Partial<EvaluationRequest>) : {};
  return {
    id: row.id,
    model: row.model_name,
    version: String(row.version),
    phase: row.phase as EvaluationPhase,
    message: row.message,
    policyVersion: row.policy_version,
    dataPath: row.data_path,
    dataDigest: row.data_digest || null,
    referencePath: row.reference_path,
    referenceOrigin: request.referenceOrigin ?? null,
    referenceNote: request.referenceNote ?? null,
    features: request.features ?? null,
    passed: row.phase === "Passed",
    checks: JSON.parse(row.checks),
    user: row.user_id,
    team: row.team_id,
    createdAt: row.created_at,
    startedAt: row.phase === "Pending" ? null : row.started_at,
    finishedAt: finished ? row.finished_at : null,
  };
}
