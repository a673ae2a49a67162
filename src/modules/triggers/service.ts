import { readdir, rm, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import type { Kysely } from "kysely";
import {
  PlatformError,
  conflict,
  isPlatformError,
  notFound,
  parseCron,
  readPushWebhook,
  type Clock,
  type IdGenerator,
  type Logger,
  type Principal,
  type ResourceRef,
  type WebhookHeaders,
} from "../../core/index.ts";
import type { Tables } from "../../storage/index.ts";
import { visibleTeams } from "../identity/index.ts";
import type { ParameterValue } from "../pipelines/index.ts";
import { checkRemote, checkoutCommit } from "./git-checkout.ts";
import { MAX_TRIGGERS_PER_PIPELINE, SHOWN_FIRINGS, type CreateTriggerBody, type FiringView, type TriggerKind, type TriggerView } from "./schema.ts";

/** Settled cron and dataset firings a trigger keeps however old (the newest; `show` lists 20). */
export const KEPT_FIRINGS = 100;
/** Settled cron and dataset firings older than this go, past the newest KEPT_FIRINGS. */
export const FIRING_RETENTION_MS = 30 * 86_400_000;
/** Checkouts a git trigger keeps beyond those in use, the most recently pushed: the same files pushed again reuse theirs. */
export const KEPT_TREES = 3;
/** How often a pass also tidies (old firings, unused checkouts). */
const TIDY_EVERY_MS = 3600_000;

type TriggerRow = Tables["pipeline_triggers"];
type FiringRow = Tables["trigger_firings"];
type Spec = Pick<CreateTriggerBody, "params" | "cron" | "dataset" | "git">;
interface State {
  /** cron: the schedule's last firing acted on (ms). */
  lastFiring?: number;
  /** dataset: the highest version seen. */
  lastVersion?: number;
  /** git: the last commit a push named. */
  lastCommit?: string;
}

/** What triggers need of the modules around them; app.ts connects each. */
export interface TriggerServiceDeps {
  db: Kysely<Tables>;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  pipelines: {
    /** The pipeline (NOT_FOUND when it does not exist). */
    get(name: string): Promise<{ name: string; team: string }>;
    /** Starts a run under `runId` (the same id again answers the run already started). */
    startRun(name: string, params: Record<string, ParameterValue>, principal: Principal, options: { runId: string; reason: string }): Promise<{ id: string }>;
    /** The parameters of every pipeline run that has not finished: a checkout one names is in use. */
    unfinishedRunParams(): Promise<Record<string, ParameterValue>[]>;
  };
  /** The highest version of a team's dataset; NOT_FOUND when the dataset does not exist, undefined when it has none. */
  latestDatasetVersion(team: string, name: string): Promise<number | undefined>;
  /** A team secret's value (NOT_FOUND naming the fix when unset). */
  readSecret(team: string, name: string): Promise<string>;
  /** A user as they are now (their teams and roles): whom a trigger's runs act as. */
  principalOf(userId: string): Promise<Principal | undefined>;
  /** triggers.allowedRemotes. */
  allowedRemotes: readonly string[];
  /** Where git triggers keep their mirrors and worktrees (under the data dir). */
  checkoutDir: string;
  /** PATH for git. */
  path: string;
}

/**
 * Triggers start pipeline runs by themselves: a cron schedule in a time zone, a new version of a
 * dataset, a verified git push. Each firing is recorded (under a key unique per trigger) before its
 * run starts, with the run's id chosen then, so a replay or a restart never starts a second run and
 * a firing recorded before a crash is started after it. Runs act as the trigger's creator, with the
 * roles they have when the run starts.
 */
export class TriggerService {
  constructor(private readonly deps: TriggerServiceDeps) {}

  // ---- what the policy sees ----

  async pipelineResource(name: string): Promise<ResourceRef> {
    const pipeline = await this.deps.pipelines.get(name);
    return { kind: "pipeline", id: name, team: pipeline.team };
  }

  async resource(id: string): Promise<ResourceRef> {
    const row = await this.row(id);
    return { kind: "pipeline", id, team: row.team_id, notFound: () => missing(id) };
  }

  // ---- the API ----

  async create(pipelineName: string, body: CreateTriggerBody, principal: Principal): Promise<TriggerView> {
    const { db, clock, ids } = this.deps;
    const pipeline = await this.deps.pipelines.get(pipelineName);
    if (!principal.userId) throw new PlatformError("FORBIDDEN", "a trigger's runs act as the person who made it; make it with a person's or service account's token");
    const kind: TriggerKind = body.cron ? "cron" : body.dataset ? "dataset" : "git";
    const name = body.name ?? kind;
    const now = clock.now();
    const state: State = {};
    if (body.cron) {
      parseCron(body.cron.schedule, body.cron.timeZone);
      state.lastFiring = now;
    } else if (body.dataset) {
      state.lastVersion = (await this.deps.latestDatasetVersion(pipeline.team, body.dataset.name)) ?? 0;
    } else if (body.git) {
      checkRemote(body.git.url, this.deps.allowedRemotes);
      // The secret must exist now (its value is read only when a delivery comes).
      await this.deps.readSecret(pipeline.team, body.git.secret);
    }
    const count = await db.selectFrom("pipeline_triggers").select((eb) => eb.fn.countAll<number>().as("n")).where("pipeline_name", "=", pipelineName).executeTakeFirst();
    if (Number(count?.n ?? 0) >= MAX_TRIGGERS_PER_PIPELINE) throw new PlatformError("QUOTA_EXCEEDED", `pipeline '${pipelineName}' has ${MAX_TRIGGERS_PER_PIPELINE} triggers, the most one may have; delete one first (\`paved triggers ls ${pipelineName}\`)`);
    const taken = await db.selectFrom("pipeline_triggers").select("trigger_id").where("pipeline_name", "=", pipelineName).where("name", "=", name).executeTakeFirst();
    if (taken) throw conflict(`pipeline '${pipelineName}' already has a trigger named '${name}' (${taken.trigger_id}); give another name, or delete it first`);
    const spec: Spec = { params: body.params, ...(body.cron ? { cron: body.cron } : {}), ...(body.dataset ? { dataset: body.dataset } : {}), ...(body.git ? { git: body.git } : {}) };
    const row: TriggerRow = {
      trigger_id: ids.prefixed("trig"),
      team_id: pipeline.team,
      pipeline_name: pipelineName,
      name,
      kind,
      spec: JSON.stringify(spec),
      state: JSON.stringify(state),
      created_by: principal.onBehalfOf ?? principal.name,
      acts_as: principal.userId,
      created_at: now,
      updated_at: now,
    };
    await db.insertInto("pipeline_triggers").values(row).execute();
    this.deps.logger.info({ trigger: row.trigger_id, pipeline: pipelineName, kind }, "trigger created");
    return this.view(row);
  }

  async list(pipelineName: string | undefined, reader: Principal): Promise<TriggerView[]> {
    const teams = visibleTeams(reader, "pipelines:read");
    if (teams?.length === 0) return [];
    let query = this.deps.db.selectFrom("pipeline_triggers").selectAll();
    if (teams) query = query.where("team_id", "in", teams);
    if (pipelineName) query = query.where("pipeline_name", "=", pipelineName);
    const rows = await query.orderBy("created_at").limit(1000).execute();
    return Promise.all(rows.map((r) => this.view(r)));
  }

  async get(id: string): Promise<TriggerView> {
    return this.view(await this.row(id));
  }

  async delete(id: string): Promise<void> {
    await this.row(id);
    await this.deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom("trigger_firings").where("trigger_id", "=", id).execute();
      await trx.deleteFrom("pipeline_triggers").where("trigger_id", "=", id).execute();
    });
  }

  /**
   * A push webhook delivery for a git trigger: verified against the trigger's secret before
   * anything is read (UNAUTHENTICATED otherwise, and nothing runs), then recorded once per delivery
   * id; the controller fetches the commit and starts the run.
   */
  async deliver(id: string, headers: WebhookHeaders, body: Buffer): Promise<{ outcome: "accepted" | "replayed" | "ignored"; runId: string | null; message: string }> {
    const row = await this.deps.db.selectFrom("pipeline_triggers").selectAll().where("trigger_id", "=", id).executeTakeFirst();
    if (!row || row.kind !== "git") throw notFound(`trigger '${id}' does not exist or is not a git trigger; point the webhook at the URL \`paved triggers ls\` shows`);
    const git = (JSON.parse(row.spec) as Spec).git!;
    const secret = await this.deps.readSecret(row.team_id, git.secret);
    const delivery = readPushWebhook(headers, body, secret, this.deps.clock.now());
    if (delivery.kind === "ignored") return { outcome: "ignored", runId: null, message: delivery.reason };
    const push = delivery.event;
    if (push.repository.toLowerCase() !== git.repository.toLowerCase()) {
      return { outcome: "ignored", runId: null, message: `the push is to ${push.repository}; this trigger runs pipeline '${row.pipeline_name}' for ${git.repository}` };
    }
    if (push.branch !== git.branch || push.deleted) {
      return { outcome: "ignored", runId: null, message: push.deleted ? `the push deleted ${push.ref}` : `the push is to ${push.ref}; this trigger runs for branch ${git.branch}` };
    }
    // Keyed by the commit, not only the delivery id: GitHub's signature covers the body alone, so a
    // captured delivery sent again under a new id must start nothing either.
    const key = `git:${push.commit}`;
    const params = { ...(JSON.parse(row.spec) as Spec).params, [git.commitParam]: push.commit };
    const recorded = await this.record(row, key, params, `${push.provider} delivery ${push.deliveryId}`);
    if (!recorded.created) return { outcome: "replayed", runId: recorded.runId, message: `commit ${push.commit.slice(0, 12)} was received before (delivery ${push.deliveryId}); it started run ${recorded.runId} then, and nothing more` };
    await this.setState(row, { lastCommit: push.commit });
    this.kick();
    return { outcome: "accepted", runId: recorded.runId, message: `commit ${push.commit.slice(0, 12)} of ${git.branch}: run ${recorded.runId} of pipeline '${row.pipeline_name}' starts once the commit is fetched (\`paved pipelines status ${recorded.runId}\`)` };
  }

  /** Set by the controller: wakes it after a delivery. */
  kick: () => void = () => undefined;

  // ---- the controller's pass ----

  /** Records what is due (schedules, new dataset versions), then starts every recorded firing not yet started. */
  async pass(): Promise<void> {
    const rows = await this.deps.db.selectFrom("pipeline_triggers").selectAll().where("kind", "in", ["cron", "dataset"]).execute();
    for (const row of rows) {
      try {
        if (row.kind === "cron") await this.due(row);
        else await this.newVersions(row);
      } catch (error) {
        this.deps.logger.warn({ err: error, trigger: row.trigger_id }, "a trigger could not be checked; it is tried again on the next pass");
      }
    }
    const pending = await this.deps.db.selectFrom("trigger_firings").selectAll().where("outcome", "=", "pending").orderBy("created_at").limit(100).execute();
    for (const firing of pending) await this.start(firing);
    if (this.deps.clock.now() - this.tidiedAt >= TIDY_EVERY_MS) await this.tidy();
  }

  private tidiedAt = -Infinity;

  /**
   * Keeps what triggers leave behind bounded. Settled cron and dataset firings older than
   * FIRING_RETENTION_MS go, but for each trigger's newest KEPT_FIRINGS: their keys never recur (the
   * trigger's state has moved past them). A git trigger's firings stay: a commit's key is what
   * refuses a replayed delivery of it, however old. Checkouts go when no unfinished pipeline run
   * names them, but for each git trigger's KEPT_TREES most recently pushed; a deleted trigger's
   * folder goes once none of its checkouts is in use.
   */
  async tidy(): Promise<void> {
    const { db, clock } = this.deps;
    this.tidiedAt = clock.now();
    const triggers = await db.selectFrom("pipeline_triggers").select(["trigger_id", "kind"]).execute();
    const cutoff = clock.now() - FIRING_RETENTION_MS;
    for (const { trigger_id: id } of triggers.filter((t) => t.kind !== "git")) {
      await db
        .deleteFrom("trigger_firings")
        .where("trigger_id", "=", id)
        .where("outcome", "<>", "pending")
        .where("created_at", "<", cutoff)
        .where("firing_key", "not in", (eb) => eb.selectFrom("trigger_firings").select("firing_key").where("trigger_id", "=", id).orderBy("created_at", "desc").limit(KEPT_FIRINGS))
        .execute();
    }
    await this.tidyCheckouts(new Set(triggers.filter((t) => t.kind === "git").map((t) => t.trigger_id)));
  }

  private async tidyCheckouts(gitTriggers: Set<string>): Promise<void> {
    const root = resolve(this.deps.checkoutDir);
    const folders = await readdir(root).catch(() => [] as string[]);
    if (folders.length === 0) return;
    const inUse = new Set<string>();
    for (const params of await this.deps.pipelines.unfinishedRunParams()) {
      for (const value of Object.values(params)) if (typeof value === "string" && value.startsWith(root + sep)) inUse.add(resolve(value));
    }
    for (const id of folders) {
      const base = join(root, id);
      const trees = join(base, "trees");
      const dirs = await Promise.all((await readdir(trees).catch(() => [] as string[])).map(async (name) => ({ dir: join(trees, name), used: (await stat(join(trees, name))).mtimeMs })));
      const recent = new Set(gitTriggers.has(id) ? dirs.sort((a, b) => b.used - a.used).slice(0, KEPT_TREES).map((d) => d.dir) : []);
      let left = 0;
      for (const { dir } of dirs) {
        if (recent.has(dir) || inUse.has(dir)) left++;
        else await rm(dir, { recursive: true, force: true });
      }
      if (!gitTriggers.has(id) && left === 0) await rm(base, { recursive: true, force: true });
      else if (left < dirs.length) this.deps.logger.info({ trigger: id, removed: dirs.length - left, kept: left }, "unused checkouts removed");
    }
  }

  /** A cron trigger's due firing, if any: one run for the latest firing missed (run-once), or none for a late one (skip). */
  private async due(row: TriggerRow): Promise<void> {
    const spec = JSON.parse(row.spec) as Spec;
    const cron = spec.cron!;
    const schedule = parseCron(cron.schedule, cron.timeZone);
    const state = JSON.parse(row.state) as State;
    const now = this.deps.clock.now();
    let latest: number | undefined;
    let missed = 0;
    for (let t = schedule.next(state.lastFiring ?? row.created_at); t !== undefined && t <= now && missed < 100_000; t = schedule.next(t)) {
      if (latest !== undefined) missed++;
      latest = t;
    }
    if (latest === undefined) return;
    // Late: more than a minute (or two passes) after its time, as after a downtime.
    const late = now - latest > 60_000;
    if (cron.missed === "skip" && late) {
      await this.setState(row, { lastFiring: latest });
      this.deps.logger.info({ trigger: row.trigger_id, skipped: missed + 1 }, "missed cron firings skipped (missed: skip)");
      return;
    }
    const note = missed > 0 ? `; ${missed} earlier firing${missed === 1 ? " was" : "s were"} missed while Paved was down (missed: run-once runs the latest)` : "";
    await this.record(row, `cron:${new Date(latest).toISOString()}`, spec.params, note ? note.slice(2) : null);
    await this.setState(row, { lastFiring: latest });
  }

  /** A dataset trigger's new version: one run for the newest version since the last one seen. */
  private async newVersions(row: TriggerRow): Promise<void> {
    const spec = JSON.parse(row.spec) as Spec;
    const dataset = spec.dataset!;
    const state = JSON.parse(row.state) as State;
    const latest = await this.deps.latestDatasetVersion(row.team_id, dataset.name).catch((error: unknown) => {
      if (isPlatformError(error) && error.code === "NOT_FOUND") return undefined;
      throw error;
    });
    if (latest === undefined || latest <= (state.lastVersion ?? 0)) return;
    const skipped = latest - (state.lastVersion ?? 0) - 1;
    const ref = `datasets:/${dataset.name}@${latest}`;
    await this.record(row, `dataset:${dataset.name}@${latest}`, { ...spec.params, [dataset.param]: ref }, skipped > 0 ? `${skipped} earlier new version${skipped === 1 ? "" : "s"} came in the same pass; the run reads the newest` : null);
    await this.setState(row, { lastVersion: latest });
  }

  /** Starts a recorded firing's run (fetching a pushed commit first); refused firings say why. */
  private async start(firing: FiringRow): Promise<void> {
    const row = await this.deps.db.selectFrom("pipeline_triggers").selectAll().where("trigger_id", "=", firing.trigger_id).executeTakeFirst();
    if (!row) return;
    const spec = JSON.parse(row.spec) as Spec;
    const params = JSON.parse(firing.params) as Record<string, ParameterValue>;
    try {
      const principal = await this.deps.principalOf(row.acts_as);
      if (!principal) throw new PlatformError("FORBIDDEN", `the trigger's creator '${row.created_by}' no longer exists; create the trigger again as someone who may run the pipeline`);
      if (spec.git) {
        const commit = String(params[spec.git.commitParam]);
        const { dir } = await checkoutCommit({ url: checkRemote(spec.git.url, this.deps.allowedRemotes), commit, base: join(this.deps.checkoutDir, row.trigger_id), path: this.deps.path });
        params[spec.git.checkoutParam] = dir;
      }
      await this.deps.pipelines.startRun(row.pipeline_name, params, principal, { runId: firing.run_id, reason: `trigger ${row.name} (${row.kind}): ${firing.firing_key}` });
      await this.settle(firing, "started", firing.message, params);
      this.deps.logger.info({ trigger: row.trigger_id, firing: firing.firing_key, run: firing.run_id }, "trigger started a pipeline run");
    } catch (error) {
      if (!isPlatformError(error)) throw error;
      // A fetch that failed (the remote down) is tried again; anything else is the firing's answer.
      if (error.code === "UNAVAILABLE" && this.deps.clock.now() - firing.created_at < 3600_000) {
        await this.deps.db.updateTable("trigger_firings").set({ message: `${error.message}; tried again on the next pass`, updated_at: this.deps.clock.now() }).where("trigger_id", "=", firing.trigger_id).where("firing_key", "=", firing.firing_key).execute();
        return;
      }
      await this.settle(firing, "refused", error.message, params);
      this.deps.logger.warn({ trigger: row.trigger_id, firing: firing.firing_key, reason: error.message }, "a trigger's run was not started");
    }
  }

  // ---- records ----

  /** Records a firing once: `created: false` (and the first firing's run) when its key was recorded before. */
  private async record(row: TriggerRow, key: string, params: Record<string, ParameterValue>, message: string | null = null): Promise<{ created: boolean; runId: string }> {
    const { db, clock, ids } = this.deps;
    const existing = await db.selectFrom("trigger_firings").select("run_id").where("trigger_id", "=", row.trigger_id).where("firing_key", "=", key).executeTakeFirst();
    if (existing) return { created: false, runId: existing.run_id };
    const now = clock.now();
    const runId = ids.prefixed("prun");
    try {
      await db.insertInto("trigger_firings").values({ trigger_id: row.trigger_id, firing_key: key, run_id: runId, outcome: "pending", message, params: JSON.stringify(params), created_at: now, updated_at: now }).execute();
    } catch (error) {
      // Two deliveries of one id at once: the first insert wins; the second is its replay.
      const raced = await db.selectFrom("trigger_firings").select("run_id").where("trigger_id", "=", row.trigger_id).where("firing_key", "=", key).executeTakeFirst();
      if (raced) return { created: false, runId: raced.run_id };
      throw error;
    }
    return { created: true, runId };
  }

  private async settle(firing: FiringRow, outcome: "started" | "refused", message: string | null, params: Record<string, ParameterValue>): Promise<void> {
    await this.deps.db
      .updateTable("trigger_firings")
      .set({ outcome, message, params: JSON.stringify(params), updated_at: this.deps.clock.now() })
      .where("trigger_id", "=", firing.trigger_id)
      .where("firing_key", "=", firing.firing_key)
      .execute();
  }

  private async setState(row: TriggerRow, patch: State): Promise<void> {
    const state = { ...(JSON.parse(row.state) as State), ...patch };
    row.state = JSON.stringify(state);
    await this.deps.db.updateTable("pipeline_triggers").set({ state: row.state, updated_at: this.deps.clock.now() }).where("trigger_id", "=", row.trigger_id).execute();
  }

  private async row(id: string): Promise<TriggerRow> {
    const row = await this.deps.db.selectFrom("pipeline_triggers").selectAll().where("trigger_id", "=", id).executeTakeFirst();
    if (!row) throw missing(id);
    return row;
  }

  private async view(row: TriggerRow): Promise<TriggerView> {
    const spec = JSON.parse(row.spec) as Spec;
    const state = JSON.parse(row.state) as State;
    const firings = await this.deps.db.selectFrom("trigger_firings").selectAll().where("trigger_id", "=", row.trigger_id).orderBy("created_at", "desc").limit(SHOWN_FIRINGS).execute();
    let next: number | null = null;
    if (spec.cron) next = parseCron(spec.cron.schedule, spec.cron.timeZone).next(Math.max(state.lastFiring ?? row.created_at, this.deps.clock.now())) ?? null;
    return {
      id: row.trigger_id,
      name: row.name,
      pipeline: row.pipeline_name,
      team: row.team_id,
      kind: row.kind as TriggerKind,
      params: spec.params,
      ...(spec.cron ? { cron: spec.cron } : {}),
      ...(spec.dataset ? { dataset: spec.dataset } : {}),
      ...(spec.git ? { git: spec.git } : {}),
      webhook: row.kind === "git" ? `/api/v1/triggers/${row.trigger_id}/webhook` : null,
      next,
      state: state as Record<string, unknown>,
      firings: firings.map(firingView),
      createdBy: row.created_by,
      createdAt: row.created_at,
    };
  }
}

function firingView(row: FiringRow): FiringView {
  return { key: row.firing_key, runId: row.run_id, outcome: row.outcome as FiringView["outcome"], message: row.message, params: JSON.parse(row.params) as Record<string, unknown>, createdAt: row.created_at };
}

function missing(id: string): PlatformError {
  return notFound(`trigger '${id}' does not exist; list a pipeline's triggers with \`paved triggers ls <pipeline>\``);
}
