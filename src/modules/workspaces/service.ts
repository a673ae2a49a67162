import { createHash, randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { PlatformError, conflict, invalidInput, notFound, type Clock, type IdGenerator, type Logger, type Principal, type ResourceRef } from "../../core/index.ts";
import type { ProfileCatalog } from "../catalog/index.ts";
import type { Job, JobService, JobSpec, PreparedJob, RunRecorder } from "../compute/index.ts";
import { teamForNew, visibleTeams } from "../identity/index.ts";
import type { BuiltEnvironment, EnvironmentBuilder } from "./environment-builder.ts";
import { refOf, type EnvironmentCatalog } from "./environment-catalog.ts";
import { assertJupyterInstalled, jupyterRequest, prepareLaunch, workspaceFolders, writeWorkspaceEnv } from "./jupyter.ts";
import { probeKernel } from "./ready-probe.ts";
import { materializeRun, RUN_FOLDER, sourceRun, type ModelSource, type RunSource, type SourceRun } from "./reproduce.ts";
import { ACTIVE_WORKSPACE_PHASES, type CreateWorkspaceBody, type EnvironmentEntry, type EnvironmentView, type WorkspaceSpec, type WorkspacePhase, type WorkspaceView } from "./schema.ts";
import { snapshotJob } from "./snapshot.ts";
import type { WorkspaceRow, WorkspaceStore } from "./store.ts";
import type { WorkspaceSettings } from "./settings.ts";

export interface WorkspaceServiceDeps {
  store: WorkspaceStore;
  /** `compute.runAs`: workspaces refuse to start under it (see assertCanStart). */
  runAs: string | undefined;
  jobs: JobService;
  catalog: ProfileCatalog;
  runs: Pick<RunRecorder, "ensureExperiment">;
  /** Where `--from-run` and `--from-model` read a run (tracking) and a model version (registry). */
  runSource: RunSource;
  models: ModelSource;
  environments: EnvironmentCatalog;
  builder: EnvironmentBuilder;
  settings: WorkspaceSettings;
  dataDir: string;
  /** Where `paved` is, for the workspace's PATH; and the server's allow-listed PATH. */
  binDir: string;
  path: string;
  /** The server's URL as users reach it (for the workspace's link). */
  serverUrl: () => string;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  /** Asks the controller to look at a workspace now (after a create, start or stop). */
  kick: () => void;
}

/** How long the one-time code of `paved workspace open` works, and the browser cookie it becomes. */
const OPEN_CODE_MS = 2 * 60_000;
export const COOKIE_MS = 12 * 3600_000;

/** Creating, reading, starting, stopping, sharing and deleting workspaces; the controller watches them run. */
export class WorkspaceService {
  /** Workspaces this process created whose job is not submitted yet (an environment may be building). */
  readonly launching = new Set<string>();

  constructor(private readonly deps: WorkspaceServiceDeps) {}

  /** A workspace as the policy sees it: its team and the users who may use it. */
  async resource(id: string): Promise<ResourceRef> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingWorkspace(id);
    return toResource(row);
  }

  async newResource(body: Pick<CreateWorkspaceBody, "team">, principal: Principal): Promise<ResourceRef> {
    return { kind: "workspace", id: "(new)", team: await teamForNew(this.deps.store.db, principal, body.team) };
  }

  /**
   * Creates a workspace and starts its first session: a job of the workspace's profile running its
   * Jupyter server, scheduled like any job (the team's quota, fair share, GPUs pinned).
   */
  async create(body: CreateWorkspaceBody, principal: Principal): Promise<WorkspaceView> {
    const { store, clock, ids, settings } = this.deps;
    this.assertCanStart();
    const team = await teamForNew(store.db, principal, body.team);
    const profile = body.profile ?? settings.defaultProfile;
    this.deps.catalog.get(profile);
    const source = body.fromRun !== undefined || body.fromModel !== undefined ? await sourceRun(body, principal, this.deps.runSource, this.deps.models) : undefined;
    const { entry, note } = this.environmentFor(body.environment, source);
    const owner = principal.onBehalfOf ?? principal.name;
    const name = body.name ?? `${owner.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+|-+$/g, "").slice(0, 50) || "ws"}-${randomBytes(3).toString("hex")}`;
    if (await store.nameTaken(team, name)) throw conflict(`team ${team} already has a workspace named '${name}'; pick another --name, or start it: paved workspace start ${name}`);
    // A reproduction records into the run's experiment when it is of this team.
    const experiment = body.experiment ?? (source && source.experiment.team === team ? source.experiment.name : name);
    const experimentId = await this.deps.runs.ensureExperiment(experiment, team);
    if (!source && !entry) {
      const pooled = await this.takeFromPool({ team, profile, name, experiment, experimentId }, principal);
      if (pooled) return this.get(pooled, principal);
    }
    // Built before anything is stored: an environment that cannot be built leaves no workspace.
    const built = entry ? await this.deps.builder.ensure(entry) : undefined;
    const id = ids.prefixed("ws");
    const now = clock.now();
    const spec: WorkspaceSpec = { profile, environment: entry ? refOf(entry) : null, experiment, fromRun: source?.runId ?? null, fromModel: source?.model ?? null };
    const folders = workspaceFolders(this.deps.dataDir, id);
    await store.insert(
      { ...emptyRow(), workspace_id: id, name, team_id: team, owner, owner_user_id: principal.userId ?? null, spec: JSON.stringify(spec), experiment_id: experimentId, home_dir: folders.home, created_at: now, updated_at: now },
      { type: "Created", message: `created by ${owner} in team ${team} with profile ${profile}; runs go to experiment '${experiment}'` },
    );
    // Until its job is submitted the row has none: the controller leaves it alone meanwhile.
    this.launching.add(id);
    try {
      if (built) await store.appendEvent(id, environmentEvent(built, clock.now()));
      if (note) await store.appendEvent(id, { type: "Environment", message: note, time: clock.now() });
      if (source) await this.reproduce(id, source, folders.home, spec.environment);
      await this.startSession((await store.get(id))!, principal, ["PENDING"], built);
    } catch (error) {
      // Refused (a policy, a budget, an infeasible profile): nothing of it stays.
      await store.delete(id);
      await rm(join2(this.deps.dataDir, id), { recursive: true, force: true });
      throw error;
    } finally {
      this.launching.delete(id);
    }
    return this.get(id, principal);
  }

  /**
   * Starts one more server for a warm pool (workspaces.warmPool): a workspace of the pool's team
   * and profile that nobody owns yet, its job drawing from that team's quota like any other.
   */
  async fillPool(pool: { profile: string; team: string }): Promise<void> {
    const { store, clock, ids } = this.deps;
    this.assertCanStart();
    this.deps.catalog.get(pool.profile);
    if (!(await store.db.selectFrom("teams").select("team_id").where("team_id", "=", pool.team).executeTakeFirst())) {
      throw invalidInput(`workspaces.warmPool names team '${pool.team}', which does not exist; create it (paved teams create ${pool.team}) or fix the configuration`);
    }
    const principal: Principal = { name: POOL_OWNER_NAME, kind: "service", platformAdmin: true, teams: {}, team: pool.team };
    const experimentId = await this.deps.runs.ensureExperiment(POOL_EXPERIMENT, pool.team);
    const id = ids.prefixed("ws");
    const now = clock.now();
    const spec: WorkspaceSpec = { profile: pool.profile, environment: null, experiment: POOL_EXPERIMENT, fromRun: null, pool: poolKey(pool) };
    const folders = workspaceFolders(this.deps.dataDir, id);
    await store.insert(
      { ...emptyRow(), workspace_id: id, name: `pool-${id.replace(/^ws-/, "")}`, team_id: pool.team, owner: POOL_OWNER, owner_user_id: null, spec: JSON.stringify(spec), experiment_id: experimentId, home_dir: folders.home, created_at: now, updated_at: now },
      { type: "Created", message: `started for the warm pool of profile ${pool.profile} in team ${pool.team} (workspaces.warmPool): the team's next new workspace of this profile gets it` },
    );
    try {
      await this.startSession((await store.get(id))!, principal, ["PENDING"], undefined);
    } catch (error) {
      await store.delete(id);
      await rm(join2(this.deps.dataDir, id), { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Hands a waiting server of the team's warm pool for this profile to a new workspace: it becomes
   * theirs (name, owner, experiment; its job and token act for them), and is ready once its spare
   * kernel answers. Undefined when the pool has none ready (the workspace is then started cold).
   */
  private async takeFromPool(want: { team: string; profile: string; name: string; experiment: string; experimentId: string }, principal: Principal): Promise<string | undefined> {
    const { store, clock } = this.deps;
    const key = poolKey(want);
    if (!this.deps.settings.warmPool.some((p) => poolKey(p) === key)) return undefined;
    const requestedAt = clock.now();
    const waiting = (await store.list({ teams: [want.team], phases: ["RUNNING"] })).filter((r) => (JSON.parse(r.spec) as WorkspaceSpec).pool === key).reverse();
    for (const row of waiting) {
      const job = await this.jobOf(row);
      if (!job || job.phase !== "RUNNING") continue;
      // The same admission a new job of this person's would pass (policies, budgets): the pool must not widen them.
      await this.deps.jobs.check({ ...(job.spec as JobSpec), name: `workspace-${want.name}`.slice(0, 63).replace(/-+$/, ""), team: want.team }, principal);
      const owner = principal.onBehalfOf ?? principal.name;
      const spec: WorkspaceSpec = { profile: want.profile, environment: null, experiment: want.experiment, fromRun: null, fromModel: null };
      const claimed = await store.claim(row.workspace_id, POOL_OWNER, {
        name: want.name,
        owner,
        owner_user_id: principal.userId ?? null,
        spec: JSON.stringify(spec),
        experiment_id: want.experimentId,
        last_activity_at: requestedAt,
        created_at: requestedAt,
        updated_at: requestedAt,
        message: null,
      });
      if (!claimed) continue;
      const folders = workspaceFolders(this.deps.dataDir, row.workspace_id);
      // Kernels started from now on (and the spare one, before its next cell) record into this experiment.
      writeWorkspaceEnv(folders, { MLFLOW_EXPERIMENT_ID: want.experimentId });
      await this.deps.jobs.reassign(row.job_id!, { owner, name: `workspace-${want.name}`.slice(0, 63).replace(/-+$/, ""), experimentId: want.experimentId }, `handed from the warm pool to workspace ${want.name}`);
      const session = row.session + 1;
      await store.insertSession({ workspace_id: row.workspace_id, session, job_id: row.job_id!, profile: want.profile, requested_at: requestedAt, ready_at: null, ready_ms: null, from_pool: 1, ended_at: null, end_reason: null });
      await store.patch(row.workspace_id, undefined, { session });
      await store.appendEvent(row.workspace_id, { type: "Created", message: `created by ${owner} in team ${want.team} with profile ${want.profile} from the warm pool (its server ${row.name} was started ${new Date(Number(row.created_at)).toISOString()}); runs go to experiment '${want.experiment}'`, time: requestedAt });
      const spare = (await readFile(folders.spareKernelFile, "utf8").catch(() => "")).trim();
      const ready = await probeKernel({ workspaceId: row.workspace_id, socketPath: row.socket_path!, token: row.jupyter_token! }, spare ? { kernelId: spare } : {}).catch(() => false);
      const now = clock.now();
      if (ready) {
        await store.patchSession(row.workspace_id, session, { ready_at: now, ready_ms: now - requestedAt });
        await store.appendEvent(row.workspace_id, { type: "Ready", message: `a kernel answered ${now - requestedAt} ms after the request (a warm pool's server${spare ? " and its spare kernel, which the first notebook at the home's root gets" : ""})`, time: now });
      }
      this.deps.kick();
      return row.workspace_id;
    }
    return undefined;
  }

  /**
   * Refuses before anything is stored when no server can start: Jupyter missing (UNAVAILABLE), or
   * compute.runAs set (UNSUPPORTED). Under runAs every job runs as that unprivileged user, and a
   * workspace's folders, token file and socket are the server's: its Jupyter would fail to start,
   * so it is refused with the reason instead.
   */
  private assertCanStart(): void {
    assertJupyterInstalled(this.deps.settings.jupyter);
    if (this.deps.runAs !== undefined) {
      throw new PlatformError(
        "UNSUPPORTED",
        `workspaces do not run under compute.runAs yet (jobs run as '${this.deps.runAs}', and a workspace's folders, token and socket are the server's); use jobs on this server, or run workspaces on a server without compute.runAs`,
        { runAs: this.deps.runAs },
      );
    }
  }

  /** The environments of the catalog, and whether each is built. */
  async environments(): Promise<EnvironmentView[]> {
    return Promise.all(
      this.deps.environments.list().map(async (e) => {
        const built = await this.deps.builder.built(e);
        return {
          name: e.name,
          version: e.version,
          ref: refOf(e),
          description: e.description,
          python: e.python,
          packages: e.packages,
          digest: this.deps.builder.digestOf(e),
          built: built !== undefined,
          builtAt: built?.builtAt ?? null,
          buildMs: built?.buildMs ?? null,
          pythonVersion: built?.pythonVersion ?? null,
        };
      }),
    );
  }

  /**
   * Run from a workspace (its token: `paved train`, `paved apply` in its terminal), a job whose
   * working folder is in the workspace's home runs from a snapshot of its code taken now, so what
   * runs and what its run records are the code as it was when submitted; in the workspace's
   * environment, tagged with it (and with the run the workspace reproduces).
   */
  async prepareJob(job: { id: string; spec: JobSpec }, principal: Principal): Promise<PreparedJob | undefined> {
    if (principal.workspaceId === undefined) return undefined;
    const row = await this.deps.store.get(principal.workspaceId);
    if (!row) return undefined;
    const spec = JSON.parse(row.spec) as WorkspaceSpec;
    const tags: Record<string, string> = {};
    if (spec.fromRun) tags["paved.workspace.from_run"] = spec.fromRun;
    let env: Record<string, string> = {};
    if (spec.environment) {
      tags["paved.environment"] = spec.environment;
      const built = await this.builtEnvironment(spec.environment).catch(() => undefined);
      if (built) env = { VIRTUAL_ENV: built.prefix, PATH: `${built.prefix}/bin:${this.deps.path}` };
    }
    const snapshot = await snapshotJob({ jobId: job.id, workingDir: job.spec.workingDir, home: row.home_dir, into: join2(this.deps.dataDir, row.workspace_id) + "/snapshots", linkOnly: [RUN_FOLDER] });
    if (snapshot) Object.assign(tags, snapshot.tags);
    return {
      spec: { ...job.spec, ...(snapshot ? { workingDir: snapshot.workingDir } : {}), env: { ...env, ...job.spec.env } },
      tags,
      ...(snapshot ? { note: `from workspace ${row.name}: runs a snapshot of ${snapshot.files} code file${snapshot.files === 1 ? "" : "s"} of ${snapshot.relative}` } : {}),
    };
  }

  /** The catalog entry a workspace asks for: --env, else the one the reproduced run recorded (if the catalog still has it). */
  private environmentFor(asked: string | undefined, source: SourceRun | undefined): { entry?: EnvironmentEntry; note?: string } {
    if (asked !== undefined) return { entry: this.deps.environments.get(asked) };
    const recorded = source?.tags["paved.environment"];
    if (!recorded) return {};
    try {
      return { entry: this.deps.environments.get(recorded), note: `run ${source!.runId} ran in environment ${recorded}: this workspace uses it too` };
    } catch {
      return { note: `run ${source!.runId} ran in environment ${recorded}, which the catalog no longer has; this workspace uses the server's Python (pick one with --env)` };
    }
  }

  /** The built virtualenv of an environment (built again if its cache was removed). */
  private async builtEnvironment(ref: string): Promise<BuiltEnvironment & { reused: boolean }> {
    return this.deps.builder.ensure(this.deps.environments.get(ref));
  }

  /** Writes the run a workspace reproduces into its home and says what it wrote. */
  private async reproduce(id: string, source: SourceRun, home: string, environment: string | null): Promise<void> {
    const done = await materializeRun(source, home, this.deps.runSource, environment);
    const parts = [
      done.codeFiles ? `${done.codeFiles} code file${done.codeFiles === 1 ? "" : "s"} of its snapshot${done.skipped ? ` (${done.skipped} over the bounds left out)` : ""}` : "no code (the run recorded none)",
      `${Object.keys(source.params).length} parameters in ${RUN_FOLDER}/params.json and $PAVED_HYPERPARAMETERS`,
      `${source.run.inputs.length} dataset reference${source.run.inputs.length === 1 ? "" : "s"} in ${RUN_FOLDER}/run.json`,
      ...(done.rerun ? [`run it again with: ${done.rerun}`] : []),
    ];
    await this.deps.store.appendEvent(id, { type: "Reproducing", message: `run ${source.runId}${source.model ? ` (model ${source.model})` : ""}: ${parts.join("; ")}`, time: this.deps.clock.now() });
  }

  /** Starts a stopped (or failed) workspace again: same id, URL and home folder, a new session. */
  async start(id: string, principal: Principal): Promise<WorkspaceView> {
    const row = await this.row(id);
    if (ACTIVE_WORKSPACE_PHASES.includes(row.phase as WorkspacePhase)) {
      if (row.phase === "STOPPING") throw conflict(`workspace ${row.name} is stopping; start it once it is STOPPED (paved workspace show ${id})`);
      return this.get(id, principal);
    }
    this.assertCanStart();
    const spec = JSON.parse(row.spec) as WorkspaceSpec;
    const built = spec.environment ? await this.builtEnvironment(spec.environment) : undefined;
    if (built && !built.reused) await this.deps.store.appendEvent(id, environmentEvent(built, this.deps.clock.now()));
    await this.startSession(row, principal, ["STOPPED", "FAILED"], built);
    return this.get(id, principal);
  }

  /**
   * Stops the workspace's server (its kernels end; its home folder stays) and gives back what it
   * held. `reason` is recorded (a user's stop, a cull, a budget).
   */
  async stop(id: string, reason: string, reader?: Principal): Promise<WorkspaceView> {
    const { store, clock } = this.deps;
    const row = await this.row(id);
    const now = clock.now();
    if (row.phase === "STOPPED" || row.phase === "FAILED") return this.get(id, reader);
    if (row.phase !== "STOPPING") {
      await store.transition(id, ["PENDING", "STARTING", "RUNNING"], "STOPPING", { stop_requested_at: now, stop_reason: reason }, { type: "Stopping", message: reason, time: now });
    }
    await this.shutdownServer(row);
    if (row.job_id) await this.deps.jobs.cancel(row.job_id);
    this.deps.kick();
    return this.get(id, reader);
  }

  /**
   * Stops every active workspace of a team (a budget's stop), home folders kept, each saying why;
   * before the team's jobs are cancelled, so a workspace reads STOPPED with the reason, not FAILED.
   */
  async stopTeam(team: string, reason: string): Promise<number> {
    const rows = await this.deps.store.list({ teams: [team], phases: ["PENDING", "STARTING", "RUNNING"] });
    for (const row of rows) await this.stop(row.workspace_id, reason);
    return rows.length;
  }

  /**
   * Asks the workspace's Jupyter server to stop through its own API (it stops its loop, Paved's
   * kernel manager kills its kernels, it exits) before its job is cancelled. Jupyter Notebook 6 on
   * Tornado 6.2 can miss a SIGTERM (its handler's callback does not always wake the loop): such a
   * server lived on until the executor's SIGKILL, ten seconds later. Best effort: the cancel follows.
   */
  private async shutdownServer(row: WorkspaceRow): Promise<void> {
    if (!row.socket_path || !row.jupyter_token || !["STARTING", "RUNNING", "STOPPING"].includes(row.phase)) return;
    await jupyterRequest(row.socket_path, row.jupyter_token, "POST", `/workspaces/${row.workspace_id}/api/shutdown`, undefined, 2000).catch(() => undefined);
  }

  /** Stops the workspace and removes it: its home folder, sessions and events. */
  async delete(id: string): Promise<void> {
    const row = await this.row(id);
    if (row.job_id && ACTIVE_WORKSPACE_PHASES.includes(row.phase as WorkspacePhase)) {
      await this.deps.store.patch(id, undefined, { stop_requested_at: this.deps.clock.now(), stop_reason: "deleted" });
      await this.shutdownServer(row);
      await this.deps.jobs.cancel(row.job_id);
    }
    await this.deps.store.delete(id);
    await rm(join2(this.deps.dataDir, id), { recursive: true, force: true });
    const socketDir = workspaceFolders(this.deps.dataDir, id).socket.replace(/\/jupyter\.sock$/, "");
    if (!socketDir.startsWith(join2(this.deps.dataDir, id))) await rm(socketDir, { recursive: true, force: true });
  }

  /** Adds and removes users the workspace is shared with (they may use it as its owner does). */
  async share(id: string, change: { add: string[]; remove: string[] }, principal: Principal): Promise<WorkspaceView> {
    const { store, clock } = this.deps;
    const row = await this.row(id);
    const current = new Set(JSON.parse(row.shared_with) as string[]);
    for (const user of change.add) {
      const member = await store.db
        .selectFrom("users")
        .innerJoin("team_members", "team_members.user_id", "users.user_id")
        .select("users.name")
        .where("users.name", "=", user)
        .where("team_members.team_id", "=", row.team_id)
        .executeTakeFirst();
      if (!member) throw invalidInput(`'${user}' is not a member of team ${row.team_id}; a workspace is shared within its team only (paved teams show ${row.team_id})`);
      if (user !== row.owner) current.add(user);
    }
    for (const user of change.remove) current.delete(user);
    const list = [...current].sort();
    await store.patch(id, undefined, { shared_with: JSON.stringify(list) });
    await store.appendEvent(id, { type: "Shared", message: `${principal.name} shared it with: ${list.length ? list.join(", ") : "nobody"}`, time: clock.now() });
    return this.get(id, principal);
  }

  /**
   * A link that opens the workspace in a browser: a one-time code (2 minutes) the proxy trades
   * for a cookie valid for this workspace only.
   */
  async open(id: string, principal: Principal): Promise<{ url: string; expiresAt: number }> {
    const row = await this.row(id);
    if (!principal.userId) throw invalidInput("only a person's token can open a workspace in a browser; run `paved login` first");
    const code = randomBytes(24).toString("base64url");
    const now = this.deps.clock.now();
    await this.deps.store.pruneLogins(now);
    await this.deps.store.insertLogin({ key_hash: sha256(code), workspace_id: row.workspace_id, user_id: principal.userId, kind: "code", created_at: now, expires_at: now + OPEN_CODE_MS });
    return { url: `${this.url(row.workspace_id)}?paved-open=${code}`, expiresAt: now + OPEN_CODE_MS };
  }

  async get(id: string, reader?: Principal): Promise<WorkspaceView> {
    const row = await this.row(id);
    const events = await this.deps.store.events([id]);
    return this.view(row, events.get(id) ?? [], await this.jobOf(row), reader);
  }

  /** Workspaces the reader may see: their own and shared ones (with `all`, a team admin's whole teams). */
  async list(reader: Principal, all: boolean): Promise<WorkspaceView[]> {
    const teams = visibleTeams(reader, "workspaces:read");
    const rows = (await this.deps.store.list({ teams })).filter((r) => {
      if (reader.platformAdmin && all) return true;
      if (usersOf(r).includes(reader.name)) return true;
      return all && reader.teams[r.team_id] === "admin";
    });
    const events = await this.deps.store.events(rows.map((r) => r.workspace_id));
    return Promise.all(rows.map(async (r) => this.view(r, events.get(r.workspace_id) ?? [], await this.jobOf(r), reader)));
  }

  /** Paved's URL of a workspace. */
  url(id: string): string {
    return `${this.deps.serverUrl().replace(/\/+$/, "")}/workspaces/${id}/`;
  }

  /** Starts a session: a new Jupyter token and a job of the workspace's profile that runs the server. */
  private async startSession(row: WorkspaceRow, principal: Principal, from: WorkspacePhase[], built: BuiltEnvironment | undefined): Promise<void> {
    const { store, clock, settings } = this.deps;
    const spec = JSON.parse(row.spec) as WorkspaceSpec;
    const folders = workspaceFolders(this.deps.dataDir, row.workspace_id);
    const token = randomBytes(32).toString("hex");
    const env: Record<string, string> = {};
    let hyperparameters: Record<string, string> = {};
    if (spec.environment) env.PAVED_ENVIRONMENT = spec.environment;
    if (spec.fromRun) {
      // The reproduced run's parameters: the file (which the user may edit) and, as a job's, $PAVED_HYPERPARAMETERS.
      const file = `${folders.home}/${RUN_FOLDER}/params.json`;
      Object.assign(env, { PAVED_FROM_RUN: spec.fromRun, PAVED_PARAMS_FILE: file });
      hyperparameters = await readFile(file, "utf8")
        .then((text) => JSON.parse(text) as Record<string, string>)
        .catch(() => ({}));
    }
    const launch = prepareLaunch({
      workspaceId: row.workspace_id,
      folders,
      jupyter: settings.jupyter,
      python: built?.python ?? settings.python,
      token,
      binDir: this.deps.binDir,
      path: this.deps.path,
      virtualenv: built?.prefix,
      env,
      workspaceEnv: { MLFLOW_EXPERIMENT_ID: row.experiment_id },
    });
    const jobSpec: JobSpec = {
      name: `workspace-${row.name}`.slice(0, 63).replace(/-+$/, ""),
      experiment: spec.experiment,
      team: row.team_id,
      command: launch.argv,
      workingDir: folders.home,
      env: launch.env,
      hyperparameters,
      hyperparameterArgs: false,
      datasets: [],
      compute: { profile: spec.profile },
      retry: { maxAttempts: 1, retryOnExitCodes: [] },
      priority: 0,
      // Someone works in it: another job does not take its GPUs away.
      preemptible: false,
    };
    const requestedAt = clock.now();
    const job: Job = await this.deps.jobs.submit(jobSpec, principal, { recordRun: false, workspaceId: row.workspace_id });
    const session = row.session + 1;
    await store.insertSession({ workspace_id: row.workspace_id, session, job_id: job.id, profile: spec.profile, requested_at: requestedAt, ready_at: null, ready_ms: null, from_pool: 0, ended_at: null, end_reason: null });
    const moved = await store.transition(
      row.workspace_id,
      from,
      "PENDING",
      {
        job_id: job.id,
        session,
        jupyter_token: token,
        socket_path: folders.socket,
        message: null,
        last_activity_at: requestedAt,
        idle_warned_at: null,
        gpu_idle_since: null,
        stop_requested_at: null,
        stop_reason: null,
      },
      { type: "Starting", message: `session ${session}: job ${job.id} asks for profile ${spec.profile}`, time: clock.now() },
    );
    if (!moved) {
      await this.deps.jobs.cancel(job.id);
      throw conflict(`workspace ${row.name} changed while starting; look at it with paved workspace show ${row.workspace_id}`);
    }
    this.deps.kick();
  }

  private async row(id: string): Promise<WorkspaceRow> {
    const row = await this.deps.store.get(id);
    if (!row) throw missingWorkspace(id);
    return row;
  }

  private async jobOf(row: WorkspaceRow): Promise<Job | undefined> {
    if (!row.job_id) return undefined;
    return this.deps.jobs.get(row.job_id).catch(() => undefined);
  }

  private async view(row: WorkspaceRow, events: WorkspaceView["events"], job: Job | undefined, reader?: Principal): Promise<WorkspaceView> {
    const spec = JSON.parse(row.spec) as WorkspaceSpec;
    const session = row.session > 0 ? await this.deps.store.session(row.workspace_id, row.session) : undefined;
    const fresh = job && reader ? await this.deps.jobs.get(job.id, reader).catch(() => job) : job;
    return {
      id: row.workspace_id,
      name: row.name,
      team: row.team_id,
      owner: row.owner,
      sharedWith: JSON.parse(row.shared_with) as string[],
      phase: row.phase as WorkspacePhase,
      profile: spec.profile,
      environment: spec.environment,
      experiment: spec.experiment,
      experimentId: row.experiment_id,
      fromRun: spec.fromRun,
      fromModel: spec.fromModel ?? null,
      url: this.url(row.workspace_id),
      jobId: row.job_id,
      session: Number(row.session),
      message: row.message,
      ...(row.phase === "PENDING" && fresh?.pending ? { pending: fresh.pending } : {}),
      gpus: row.phase === "PENDING" || row.phase === "STOPPED" || row.phase === "FAILED" ? [] : (fresh?.allocation?.gpus ?? []),
      createdAt: Number(row.created_at),
      requestedAt: session ? Number(session.requested_at) : null,
      readyAt: session?.ready_at == null ? null : Number(session.ready_at),
      readyMs: session?.ready_ms == null ? null : Number(session.ready_ms),
      lastActivityAt: row.last_activity_at == null ? null : Number(row.last_activity_at),
      idleStopAt: null,
      homeBytes: Number(row.home_bytes),
      events,
    };
  }
}

/** The users a workspace is for: its owner and whom they share it with. */
export function usersOf(row: WorkspaceRow): string[] {
  return [row.owner, ...(JSON.parse(row.shared_with) as string[])];
}

export function toResource(row: WorkspaceRow): ResourceRef {
  return { kind: "workspace", id: row.workspace_id, team: row.team_id, users: usersOf(row), notFound: () => missingWorkspace(row.workspace_id) };
}

export function missingWorkspace(id: string): Error {
  return notFound(`workspace '${id}' does not exist; list yours with \`paved workspace ls\``);
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Who a warm pool's waiting servers belong to: no person, so nobody may use one before it is handed out. */
export const POOL_OWNER = "(warm pool)";
const POOL_OWNER_NAME = "paved-warm-pool";
/** The experiment a waiting pool server's job is filed under (nothing is recorded there). */
const POOL_EXPERIMENT = "workspace-warm-pool";

/** A warm pool's key: its profile and team. */
export const poolKey = (p: { profile: string; team: string }) => `${p.profile}/${p.team}`;

/** A new workspace row's fields that every new workspace starts with (PENDING, no session yet). */
function emptyRow(): Omit<WorkspaceRow, "workspace_id" | "name" | "team_id" | "owner" | "owner_user_id" | "spec" | "experiment_id" | "home_dir" | "created_at" | "updated_at"> {
  return {
    phase: "PENDING",
    shared_with: "[]",
    job_id: null,
    session: 0,
    jupyter_token: null,
    socket_path: null,
    message: null,
    last_activity_at: null,
    idle_warned_at: null,
    gpu_idle_since: null,
    stop_requested_at: null,
    stop_reason: null,
    home_bytes: 0,
  };
}

function environmentEvent(built: BuiltEnvironment & { reused?: boolean }, time: number): { type: string; message: string; time: number } {
  const digest = built.digest.slice(0, 12);
  return built.reused
    ? { type: "Environment", message: `environment ${built.ref}: its virtualenv (digest ${digest}) was built at ${new Date(built.builtAt).toISOString()} and is reused`, time }
    : { type: "EnvironmentBuilt", message: `environment ${built.ref}: virtualenv built in ${(built.buildMs / 1000).toFixed(1)} s (digest ${digest}, Python ${built.pythonVersion}${built.installed.length ? `; pip installed ${built.installed.join(", ")}` : ""})`, time };
}

function join2(dataDir: string, id: string): string {
  return `${dataDir.replace(/\/+$/, "")}/workspaces/${id}`;
}
