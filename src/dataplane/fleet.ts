// The control plane's side of the data plane: the serving plane the admin routes and the deployment
// controller drive when models are served by data-plane processes. It keeps the desired state
// (versions by model digest, with the router's splits) and pushes it whole to every process that
// has not applied the newest revision; a load or unload resolves once every live process applied
// it, and fails with a process's reason when one could not load it. It adds up what the processes
// observe: rollout windows (into the control plane's router, where the controller judges them),
// loaded versions and metrics. After a restart of the control plane it adopts the state the
// processes serve before it pushes anything, so a restart never unloads what serves.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from "prom-client";
import { PlatformError, type Logger } from "../core/index.ts";
import type { DeploymentRouter, WindowReport } from "../modules/deployments/index.ts";
import { DEFAULT_ENVIRONMENT, SERVING_DEFAULTS, checkLoad, decodeSampleSets, type SampleSet, type InferRequest, type InferResponse, type LoadModelInput, type LoadedModelView, type ServingPlane } from "../modules/serving/index.ts";
import { writeDurably } from "./files.ts";
import { INTERNAL_PREFIX, ObservedState, assignmentKey, type Assignment, type DesiredState, type DrainAnswer } from "./protocol.ts";

/** A data-plane process as the control plane reaches it. */
export interface DataPlaneMember {
  index: number;
  url: string;
  secret: string;
}

export interface DataPlaneFleetOptions {
  /** The processes now (the supervisor's, or configured endpoints). */
  members: () => DataPlaneMember[];
  /** Starts the processes that are not running (called before the first load). */
  ensureMembers?: () => Promise<void>;
  router: DeploymentRouter;
  /** Where the control plane keeps the model files it assigned, by digest (to give a process that lacks one). */
  blobsDir: string;
  limits: { maxOutputBytes: number; maxReplicasPerVersion: number; maxModelBytes: number };
  logger: Logger;
  /** Replicas a team may still add by autoscaling (guardrails' ledger); undefined: no limit. */
  replicaRoom?: (team: string) => number | undefined;
  /** How often processes are synced and their windows drained (default 200 ms). */
  intervalMs?: number;
  /** How long a load waits for a process to apply it (default 60 s). */
  applyTimeoutMs?: number;
}

interface MemberStatus {
  url: string;
  /** The revision it applied, as it last said. */
  applied: number;
  observed: ObservedState | undefined;
  /** Time of its last answer (0: never answered). */
  lastSeen: number;
  lastError: string | undefined;
  /** When its live samples were last taken, and why the last take failed (logged once per reason). */
  samplesAt: number;
  samplesError?: string;
}

/** A process counts as live while it answered within this long. */
const LIVE_MS = 3000;
/** Least time between two takes of a process's live samples (its windows are drained every 200 ms). */
const SAMPLES_EVERY_MS = 1_000;

export class DataPlaneFleet implements ServingPlane {
  private readonly desired = new Map<string, Assignment>();
  /**
   * Each process's last take of live samples, until the control plane's monitors drain them. They
   * are handed on as taken (the monitors' thread merges them, not this one); a process whose take
   * was not yet drained is not asked again, and keeps sampling evenly meanwhile.
   */
  private readonly taken = new Map<number, SampleSet[]>();
  private revision = 0;
  private adopted = false;
  private readonly status = new Map<number, MemberStatus>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private replicaRooms: Record<string, number> = {};
  private monitored: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(private readonly options: DataPlaneFleetOptions) {
    mkdirSync(options.blobsDir, { recursive: true, mode: 0o700 });
    // A split that changes is pushed with the next revision.
    options.router.onChange = () => this.bump();
  }

  get limits() {
    return this.options.limits;
  }

  /** Starts syncing (adopting what the processes serve first). */
  start(): void {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs ?? 200);
    this.timer.unref();
    this.kick();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    for (const wake of this.waiters) wake();
  }

  /** Syncs now (or right after the pass in progress). */
  kick(): void {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((error: unknown) => this.options.logger.warn({ reason: (error as Error).message }, "data-plane sync pass failed"))
      .finally(() => {
        this.ticking = undefined;
        for (const wake of [...this.waiters]) wake();
        if (this.again && !this.closed) {
          this.again = false;
          this.kick();
        }
      });
  }

  async load(input: LoadModelInput): Promise<LoadedModelView> {
    const environment = input.environment ?? DEFAULT_ENVIRONMENT;
    // What a process would refuse is refused here, with the same error, before anything is pushed
    // (the endpoint's team once what the processes serve is known, below).
    checkLoad(input, environment, this.limits);
    const replicas = input.replicas ?? SERVING_DEFAULTS.replicas;
    const sha256 = createHash("sha256").update(input.bytes).digest("hex");
    this.keepBlob(sha256, input.bytes);
    const assignment: Assignment = {
      environment,
      name: input.name,
      version: input.version,
      team: input.team ?? "default",
      sha256,
      replicas,
      maxReplicas: input.maxReplicas ?? replicas,
      targetP95Ms: input.targetP95Ms ?? null,
      ...(input.maxBatch !== undefined ? { maxBatch: input.maxBatch } : {}),
      ...(input.runtime !== undefined ? { runtime: input.runtime } : {}),
    };
    await this.options.ensureMembers?.();
    await this.whenAdopted();
    checkLoad(input, environment, this.limits, [...this.desired.values()].find((a) => a.environment === environment && a.name === input.name)?.team);
    const key = assignmentKey(assignment);
    const previous = this.desired.get(key);
    this.desired.set(key, assignment);
    const target = this.bump();
    await this.appliedEverywhere(target, `load version ${input.version} of '${input.name}'`);
    const failure = this.failureOf(key, sha256);
    if (failure) {
      // Back to what served before (or nothing), so no process keeps trying.
      if (previous) this.desired.set(key, previous);
      else this.desired.delete(key);
      this.bump();
      throw new PlatformError("INVALID_INPUT", `the data plane could not load version ${input.version} of '${input.name}': ${failure}`);
    }
    const view = this.list(environment).find((v) => v.name === input.name && v.version === input.version);
    if (!view) throw new PlatformError("UNAVAILABLE", `no data-plane process serves version ${input.version} of '${input.name}' yet; retry`);
    return view;
  }

  async unload(name: string, version: string, environment: string = DEFAULT_ENVIRONMENT): Promise<void> {
    await this.whenAdopted();
    const key = assignmentKey({ environment, name, version });
    if (!this.desired.delete(key)) {
      throw new PlatformError("NOT_FOUND", `model '${name}' version '${version}' is not loaded${environment === DEFAULT_ENVIRONMENT ? "" : ` in environment '${environment}'`}; see what is loaded with GET /api/v1/serving/models`);
    }
    await this.appliedEverywhere(this.bump(), `unload version ${version} of '${name}'`);
    this.dropUnusedBlobs();
  }

  isLoaded(name: string, version: string, environment: string = DEFAULT_ENVIRONMENT): boolean {
    const key = assignmentKey({ environment, name, version });
    const wanted = this.desired.get(key);
    if (!wanted) return false;
    // Assigned, and some live process serves this very copy.
    return this.live().some((s) => s.observed?.views.some((v) => v.name === name && v.version === version && v.environment === environment && v.sha256 === wanted.sha256));
  }

  /** Every version the live processes serve, once (replicas added up across processes). */
  list(environment?: string, teams?: readonly string[]): LoadedModelView[] {
    const merged = new Map<string, LoadedModelView>();
    for (const s of this.live()) {
      for (const v of s.observed?.views ?? []) {
        if ((environment !== undefined && v.environment !== environment) || (teams !== undefined && !teams.includes(v.team))) continue;
        const key = assignmentKey(v);
        const seen = merged.get(key);
        if (!seen) merged.set(key, { ...v });
        else {
          seen.replicas += v.replicas;
          if (v.scaleLimit !== undefined) seen.scaleLimit = v.scaleLimit;
        }
      }
    }
    return [...merged.values()];
  }

  /** Runs a request on one version in one live process (the controller's integration tests). */
  async infer(name: string, version: string | undefined, request: InferRequest, _key?: string, environment: string = DEFAULT_ENVIRONMENT): Promise<InferResponse> {
    const member = this.pick();
    const chosen = version ?? this.list(environment).find((v) => v.name === name)?.version;
    if (!chosen) throw new PlatformError("NOT_FOUND", `model '${name}' is not loaded`);
    const res = await this.call(member, "POST", `/infer/${encodeURIComponent(environment)}/${encodeURIComponent(name)}/${encodeURIComponent(chosen)}`, JSON.stringify(request));
    const body = (await res.json()) as InferResponse & { error?: { code: string; message: string } };
    if (!res.ok) throw new PlatformError((body.error?.code as "INVALID_INPUT") ?? "INTERNAL", body.error?.message ?? `the data plane answered ${res.status}`);
    return body;
  }

  /** The live samples every process reported since the last call, a set per process and version (whoever takes them merges them). */
  drainSamples(): SampleSet[] {
    const sets = [...this.taken.values()].flat();
    this.taken.clear();
    return sets;
  }

  /** The metrics of every live process, added up (counters, histograms and gauges summed). */
  async metricsText(): Promise<string> {
    return (await this.aggregate()).metrics();
  }

  async answered(): Promise<Map<string, number>> {
    const counter = (await this.aggregate()).getSingleMetric("paved_serving_requests_total");
    return new Map(((await counter?.get())?.values ?? []).map((v) => [`${v.labels.model}\0${v.labels.version}\0${v.labels.environment}`, v.value]));
  }

  private async aggregate(): Promise<Registry> {
    const all = await Promise.all(
      this.live().map(async (s) => {
        try {
          const res = await this.call(this.member(s), "GET", "/metrics");
          return res.ok ? ((await res.json()) as MetricObjectWithValues<MetricValue<string>>[]) : [];
        } catch {
          return [];
        }
      }),
    );
    return AggregatorRegistry.aggregate(all.filter((m) => m.length > 0));
  }

  /** Which processes answered lately, with the revision each applied (for `paved up`'s status and tests). */
  members(): { index: number; url: string; applied: number; live: boolean; lastError: string | undefined }[] {
    const now = Date.now();
    return [...this.status.entries()].map(([index, s]) => ({ index, url: s.url, applied: s.applied, live: now - s.lastSeen < LIVE_MS, lastError: s.lastError }));
  }

  private bump(): number {
    this.revision++;
    this.kick();
    return this.revision;
  }

  private live(): MemberStatus[] {
    const now = Date.now();
    return [...this.status.values()].filter((s) => s.lastSeen > 0 && now - s.lastSeen < LIVE_MS && s.lastError === undefined);
  }

  private member(s: MemberStatus): DataPlaneMember {
    const m = this.options.members().find((x) => x.url === s.url);
    if (!m) throw new PlatformError("UNAVAILABLE", "that data-plane process is gone");
    return m;
  }

  private pick(): DataPlaneMember {
    const live = this.live();
    if (live.length === 0) throw new PlatformError("UNAVAILABLE", "no data-plane process answers; `paved up` restarts them (see its log), retry in a few seconds");
    return this.member(live[Math.floor(Math.random() * live.length)]!);
  }

  private failureOf(key: string, sha256: string): string | undefined {
    for (const s of this.live()) {
      const f = s.observed?.failures.find((x) => assignmentKey(x) === key && x.sha256 === sha256);
      if (f) return f.reason;
    }
    return undefined;
  }

  private async whenAdopted(): Promise<void> {
    const deadline = Date.now() + (this.options.applyTimeoutMs ?? 60_000);
    while (!this.adopted) {
      if (this.closed || Date.now() > deadline) throw new PlatformError("UNAVAILABLE", "the data plane has not been reached since this server started; retry in a few seconds");
      await this.nextPass();
    }
  }

  /** Resolves once every live process applied `revision` (and at least one is live). */
  private async appliedEverywhere(revision: number, what: string): Promise<void> {
    const deadline = Date.now() + (this.options.applyTimeoutMs ?? 60_000);
    for (;;) {
      const live = this.live();
      if (live.length > 0 && live.every((s) => s.applied >= revision)) return;
      if (this.closed) throw new PlatformError("UNAVAILABLE", "the server is shutting down");
      if (Date.now() > deadline) {
        const lagging = [...this.status.entries()].map(([i, s]) => `process ${i}: ${s.lastError ?? `applied revision ${s.applied} of ${revision}`}`).join("; ");
        throw new PlatformError("UNAVAILABLE", `the data plane did not ${what} in time (${lagging || "no process answers"}); retry, and see \`paved up\`'s log`);
      }
      await this.nextPass();
    }
  }

  private nextPass(): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(wake, 500);
      this.waiters.add(wake);
      this.kick();
    });
  }

  private async tick(): Promise<void> {
    const members = this.options.members();
    for (const m of members) if (!this.status.has(m.index) || this.status.get(m.index)!.url !== m.url) this.status.set(m.index, { url: m.url, applied: -1, observed: undefined, lastSeen: 0, lastError: undefined, samplesAt: 0 });
    for (const index of [...this.status.keys()]) if (!members.some((m) => m.index === index)) this.status.delete(index);
    if (!this.adopted) {
      await this.adopt(members);
      if (!this.adopted) return;
    }
    this.refreshReplicaRoom();
    await Promise.all(members.map((m) => this.syncMember(m)));
  }

  /**
   * Takes what the processes serve as the desired state (the newest revision any of them applied),
   * before anything is pushed: a control plane that restarted knows nothing yet, and pushing that
   * would unload every model. With no process running (a first start), the desired state is empty.
   */
  private async adopt(members: DataPlaneMember[]): Promise<void> {
    const answers = await Promise.all(members.map(async (m) => ({ m, state: await this.observe(m) })));
    const newest = answers.map((a) => a.state).filter((s): s is ObservedState => s !== undefined).sort((a, b) => b.revision - a.revision)[0];
    // Processes run but none answers yet (starting): wait for one.
    if (!newest && members.length > 0) return;
    if (newest) {
      for (const m of newest.state.models) this.desired.set(assignmentKey(m), m);
      for (const { model, split } of newest.state.splits) this.options.router.set(model, split);
      await this.recoverBlobs(members, newest.state.models);
      this.revision = Math.max(...answers.map((a) => a.state?.revision ?? 0)) + 1;
      this.options.logger.info({ models: newest.state.models.length, splits: newest.state.splits.length, revision: newest.revision }, "adopted what the data plane serves");
    }
    this.adopted = true;
  }

  private async observe(m: DataPlaneMember): Promise<ObservedState | undefined> {
    try {
      const res = await this.call(m, "GET", "/state");
      if (!res.ok) throw new Error(`answered ${res.status}`);
      const state = ObservedState.parse(await res.json());
      this.seen(m, state);
      return state;
    } catch (error) {
      this.unreachable(m, error);
      return undefined;
    }
  }

  /** Model files the control plane lost (another data dir, a cleanup) are taken back from a process that holds them. */
  private async recoverBlobs(members: DataPlaneMember[], models: Assignment[]): Promise<void> {
    for (const sha of new Set(models.map((m) => m.sha256))) {
      if (existsSync(this.blobPath(sha))) continue;
      for (const m of members) {
        try {
          const res = await this.call(m, "GET", `/blobs/${sha}`);
          if (!res.ok || !res.body) continue;
          const temporary = `${this.blobPath(sha)}.recover`;
          await pipeline(Readable.fromWeb(res.body as never), createWriteStream(temporary, { mode: 0o600 }));
          renameSync(temporary, this.blobPath(sha));
          break;
        } catch {
          // the next process may hold it
        }
      }
    }
  }

  private refreshReplicaRoom(): void {
    const room = this.options.replicaRoom;
    if (!room) return;
    const next: Record<string, number> = {};
    for (const team of new Set([...this.desired.values()].map((a) => a.team))) {
      const r = room(team);
      if (r !== undefined) next[team] = Math.max(0, r);
    }
    if (JSON.stringify(next) !== JSON.stringify(this.replicaRooms)) {
      this.replicaRooms = next;
      this.revision++;
    }
  }

  private state(): DesiredState {
    // `monitored` only when some version is: a process from before monitors refuses the field.
    return { revision: this.revision, models: [...this.desired.values()], splits: this.options.router.list(), replicaRoom: this.replicaRooms, ...(this.monitored.length ? { monitored: this.monitored } : {}) } as DesiredState;
  }

  /** The versions monitors watch: pushed to every process (a new revision when it changes), which samples only their traffic. */
  setMonitored(keys: readonly string[]): void {
    const next = [...new Set(keys)].sort();
    if (next.join("\n") === this.monitored.join("\n")) return;
    this.monitored = next;
    this.revision++;
    this.kick();
  }

  /** Pushes the desired state to a process that has not applied it (uploading model files it lacks), then drains its windows. */
  private async syncMember(m: DataPlaneMember): Promise<void> {
    const status = this.status.get(m.index)!;
    try {
      if (status.applied !== this.revision) {
        const body = JSON.stringify(this.state());
        let res = await this.call(m, "PUT", "/state", body);
        let observed = ObservedState.parse(await res.json());
        if (observed.missing.length > 0) {
          for (const sha of observed.missing) await this.upload(m, sha);
          res = await this.call(m, "PUT", "/state", body);
          observed = ObservedState.parse(await res.json());
        }
        this.seen(m, observed);
      }
      const drained = await this.call(m, "POST", "/windows/drain");
      const answer = (await drained.json()) as DrainAnswer;
      this.options.router.absorb(answer.reports as WindowReport[]);
      if (status.observed) status.observed = { ...status.observed, views: answer.views };
      status.lastSeen = Date.now();
      status.lastError = undefined;
      // A process that restarted from an older saved state gets the newest again.
      if (answer.revision !== status.applied) {
        status.applied = answer.revision;
        this.again = true;
      }
    } catch (error) {
      this.unreachable(m, error);
      return;
    }
    await this.takeSamples(m, status);
  }

  /**
   * A process's live samples, at most once a second (each take is a copy of up to
   * MAX_SAMPLED_ROWS rows per watched version), only while a monitor watches, and not before the
   * monitors drained the last take. A failure costs the monitors that second's samples, never the
   * process its place in routing.
   */
  private async takeSamples(m: DataPlaneMember, status: MemberStatus): Promise<void> {
    if (this.monitored.length === 0 || this.taken.has(m.index) || Date.now() - status.samplesAt < SAMPLES_EVERY_MS) return;
    status.samplesAt = Date.now();
    try {
      const res = await this.call(m, "POST", "/samples/drain");
      if (!res.ok) throw new Error(`it answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
      const sets = decodeSampleSets(new Uint8Array(await res.arrayBuffer()));
      if (sets.length > 0) this.taken.set(m.index, sets);
      status.samplesError = undefined;
    } catch (error) {
      const reason = (error as Error).message;
      if (status.samplesError !== reason) this.options.logger.warn({ dataPlane: m.index, url: m.url, reason }, "a data-plane process's live samples were not taken");
      status.samplesError = reason;
    }
  }

  private seen(m: DataPlaneMember, observed: ObservedState): void {
    const status = this.status.get(m.index);
    if (!status) return;
    status.applied = observed.missing.length > 0 ? status.applied : observed.revision;
    status.observed = observed;
    status.lastSeen = Date.now();
    status.lastError = undefined;
  }

  private unreachable(m: DataPlaneMember, error: unknown): void {
    const status = this.status.get(m.index);
    if (!status) return;
    const reason = (error as Error).message;
    if (status.lastError !== reason) this.options.logger.warn({ dataPlane: m.index, url: m.url, reason }, "a data-plane process does not answer");
    status.lastError = reason;
  }

  private async upload(m: DataPlaneMember, sha256: string): Promise<void> {
    const path = this.blobPath(sha256);
    if (!existsSync(path)) throw new Error(`the control plane no longer holds model file ${sha256}; load the version again`);
    const res = await this.call(m, "PUT", `/blobs/${sha256}`, Readable.toWeb(createReadStream(path)) as ReadableStream);
    if (!res.ok) throw new Error(`uploading model file ${sha256} answered ${res.status}: ${await res.text()}`);
  }

  private call(m: DataPlaneMember, method: string, path: string, body?: string | ReadableStream): Promise<Response> {
    return fetch(`${m.url}${INTERNAL_PREFIX}${path}`, {
      method,
      headers: { authorization: `Bearer ${m.secret}`, ...(typeof body === "string" ? { "content-type": "application/json" } : body ? { "content-type": "application/octet-stream" } : {}) },
      ...(body !== undefined ? { body, duplex: "half" } : {}),
      signal: AbortSignal.timeout(method === "GET" || path === "/windows/drain" || path === "/samples/drain" ? 5000 : (this.options.applyTimeoutMs ?? 60_000)),
    } as RequestInit);
  }

  private blobPath(sha256: string): string {
    return join(this.options.blobsDir, `${sha256}.onnx`);
  }

  private keepBlob(sha256: string, bytes: Uint8Array): void {
    const path = this.blobPath(sha256);
    if (!existsSync(path)) writeDurably(path, bytes);
  }

  private dropUnusedBlobs(): void {
    const used = new Set([...this.desired.values()].map((a) => a.sha256));
    for (const file of readdirSync(this.options.blobsDir)) {
      const sha = file.replace(/\.onnx$/, "");
      if (/^[0-9a-f]{64}$/.test(sha) && !used.has(sha)) rmSync(join(this.options.blobsDir, file), { force: true });
    }
  }
}
