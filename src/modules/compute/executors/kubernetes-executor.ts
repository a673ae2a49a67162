import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { ApiException, BatchV1Api, CoreV1Api, KubeConfig, Log, Watch, type V1Job, type V1Node, type V1Pod } from "@kubernetes/client-node";
import { PlatformError } from "../../../core/index.ts";
import { JOB_CONTAINER, parseMemoryMiB } from "../../catalog/index.ts";
import type { Allocation } from "../schema.ts";
import { attemptLogPath, type BackendResources, type ExecutionHandle, type ExecutionRequest, type Executor, type ObservedState } from "./executor.ts";
import { attemptNames, buildJob, buildSecret, buildService, COMPLETION_INDEX_ANNOTATION, GPU_PRODUCT_LABEL, GPU_RESOURCE, LABELS, selectorOf, type AttemptNames, type KubernetesSettings } from "./kubernetes-manifests.ts";

export interface KubernetesHandle extends ExecutionHandle {
  kind: "kubernetes";
  jobId: string;
  attempt: number;
  namespace: string;
  /** The batch/v1 Job's name (also its headless Service's, for a distributed job). */
  name: string;
  /** The Secret holding the attempt's environment, deleted in cleanup. */
  secret: string;
  /** How many pods (nodes) the Job runs; more than one: an Indexed Job with a headless Service. */
  pods: number;
  /** Where the pod's (rank 0's) log is copied for the run's artifacts and metric lines. */
  logPath: string;
}

export interface KubernetesExecutorOptions {
  kubeConfig: KubeConfig;
  settings: KubernetesSettings;
  /** A job's gpuType → the `nvidia.com/gpu.product` label value (compute.kubernetes.gpuProducts). */
  gpuProducts?: Record<string, string>;
  /** How often an attempt's state is read when no watch event came. */
  pollMs?: number;
  /** Longest one API call may take before the API server counts as unavailable. */
  requestTimeoutMs?: number;
  /** The longest log copied into the attempt's log file, in bytes. */
  maxLogBytes?: number;
}

/**
 * Runs attempts as batch/v1 Jobs through the Kubernetes API: GPU limits and the product node
 * selector from the job's gpuType, the profile's priority class, Kueue queue and pod spec patch,
 * owner labels to find attempts again after a restart. The job's environment (its token
 * included) is a Secret the pod reads through envFrom, never a value of the pod spec. Pods are
 * watched; the rank-0 pod's log is streamed and copied to the attempt's log file; cancel deletes
 * the Job with foreground propagation. An API server that does not answer is UNAVAILABLE (the job
 * waits, queued, and the controller tries again with backoff); one that refuses a manifest is
 * INVALID_INPUT naming why.
 */
export class KubernetesExecutor implements Executor {
  readonly kind = "kubernetes";
  readonly capabilities = new Set(["gpu", "multiNode", "preemption"] as const);
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly settings: KubernetesSettings;
  private readonly pollMs: number;
  private readonly server: string;
  /** Attempts seen ended: their state once their Job is gone (cancel, TTL). */
  private readonly ended = new Map<string, ObservedState>();
  /** Log copies running or done, by Job name. */
  private readonly copies = new Map<string, Promise<void>>();
  private capacity: { at: number; value: Promise<BackendResources & { products: string[] }> } | undefined;

  constructor(private readonly options: KubernetesExecutorOptions) {
    this.batch = options.kubeConfig.makeApiClient(BatchV1Api);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.settings = options.settings;
    this.pollMs = options.pollMs ?? 2000;
    this.server = options.kubeConfig.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
  }

  async submit(job: ExecutionRequest, allocation: Allocation): Promise<KubernetesHandle> {
    const names = attemptNames(this.settings.instance, job.jobId, job.attempt);
    const ns = this.settings.namespace;
    const nodes = job.processes?.nodes ?? 1;
    const gpuProduct = allocation.gpus.length > 0 && job.gpuType ? await this.gpuProduct(job.gpuType) : undefined;
    const manifest = buildJob(job, allocation, this.settings, names, gpuProduct);
    mkdirSync(job.jobDir, { recursive: true, mode: 0o700 });
    const handle: KubernetesHandle = { kind: "kubernetes", jobId: job.jobId, attempt: job.attempt, namespace: ns, name: names.job, secret: names.secret, pods: nodes, logPath: attemptLogPath(job.jobDir, job.attempt) };
    // The Secret first: the pod cannot start without it. Written again when a lost answer left one.
    const secret = buildSecret(names, this.settings, job.env);
    try {
      await this.call("create the job's Secret", () => this.core.createNamespacedSecret({ namespace: ns, body: secret }));
    } catch (error) {
      if (!(error instanceof PlatformError && error.code === "CONFLICT")) throw error;
      await this.call("replace the job's Secret", () => this.core.replaceNamespacedSecret({ name: names.secret, namespace: ns, body: secret }));
    }
    let created: V1Job;
    try {
      created = await this.call("create the Job", () => this.batch.createNamespacedJob({ namespace: ns, body: manifest }));
    } catch (error) {
      if (!(error instanceof PlatformError && error.code === "CONFLICT")) throw error;
      // Idempotent: the Job of this attempt exists already (a submit whose answer was lost).
      created = await this.call("read the Job", () => this.batch.readNamespacedJob({ name: names.job, namespace: ns }));
      if (created.metadata?.labels?.[LABELS.instance] !== this.settings.instance || created.metadata?.labels?.[LABELS.job] !== names.labels[LABELS.job]) {
        throw new PlatformError("CONFLICT", `a Job named '${names.job}' exists in namespace ${ns} and is not this attempt's (its labels differ); delete it or set compute.kubernetes.instance`);
      }
    }
    if (nodes > 1) {
      const service = buildService(names, this.settings, created.metadata?.uid ? { uid: created.metadata.uid } : undefined);
      await this.call("create the headless Service", () => this.core.createNamespacedService({ namespace: ns, body: service })).catch(ignoreCode("CONFLICT"));
    }
    return handle;
  }

  async observe(handle: ExecutionHandle): Promise<ObservedState> {
    const h = asKubernetes(handle);
    const known = this.ended.get(h.name);
    if (known) return known;
    const job = await this.readJob(h);
    if (!job) {
      return { state: "vanished", reason: `Kubernetes no longer knows Job ${h.name} in namespace ${h.namespace} (deleted, or removed after ttlSecondsAfterFinished)` };
    }
    const conditions = job.status?.conditions ?? [];
    const holds = (type: string) => conditions.find((c) => c.type === type && c.status === "True");
    if (holds("Complete")) return this.end(h, { state: "exited", exitCode: 0 });
    const failed = holds("Failed");
    if (failed) {
      const pods = await this.pods(h);
      const disrupted = pods.find((p) => p.status?.conditions?.some((c) => c.type === "DisruptionTarget" && c.status === "True"));
      const code = exitCodeOf(pods);
      if (disrupted) return this.end(h, { state: "exited", exitCode: code ?? 143, preempted: true });
      if (code !== undefined) return this.end(h, { state: "exited", exitCode: code });
      return this.end(h, { state: "vanished", reason: `Job ${h.name} failed without an exit status (${failed.reason ?? "Failed"}: ${failed.message ?? "no message"})` });
    }
    if (job.metadata?.deletionTimestamp) return { state: "running" };
    const pods = await this.pods(h);
    if (pods.some((p) => containerOf(p)?.state?.running || containerOf(p)?.state?.terminated)) return { state: "running" };
    if (job.spec?.suspend) {
      const queue = job.metadata?.labels?.["kueue.x-k8s.io/queue-name"];
      return { state: "pending", reason: `waiting in Kubernetes: Job ${h.name} is suspended${queue ? ` until Kueue admits it from queue ${queue}` : ""}` };
    }
    return { state: "pending", reason: `waiting in Kubernetes: ${pendingReason(pods, h.name)}` };
  }

  async waitForExit(handle: ExecutionHandle, signal: AbortSignal): Promise<void> {
    const h = asKubernetes(handle);
    // A pod event wakes the loop at once; the poll interval is the fallback.
    let wake = new AbortController();
    const watch = this.watchPods(h, () => wake.abort(), signal);
    try {
      while (!signal.aborted) {
        const state = await this.observe(h);
        if (state.state === "running") void this.followLog(h, signal);
        if (state.state !== "running" && state.state !== "pending") {
          await this.finishLog(h);
          return;
        }
        await sleep(this.pollMs, undefined, { signal: AbortSignal.any([signal, wake.signal]) }).catch(() => undefined);
        if (wake.signal.aborted) wake = new AbortController();
      }
    } finally {
      watch.stop();
    }
  }

  async cancel(handle: ExecutionHandle, opts: { graceMs?: number } = {}): Promise<void> {
    const h = asKubernetes(handle);
    const first = await this.observe(h);
    if (first.state !== "running" && first.state !== "pending") return;
    // The log so far, should the pods be gone before a copy could follow them.
    if (!this.copies.has(h.name)) await this.copyOnce(h).catch(() => undefined);
    await this.call("delete the Job", () =>
      this.batch.deleteNamespacedJob({ name: h.name, namespace: h.namespace, propagationPolicy: "Foreground", ...(opts.graceMs !== undefined ? { gracePeriodSeconds: Math.ceil(opts.graceMs / 1000) } : {}) }),
    ).catch(ignoreCode("NOT_FOUND"));
    // Foreground: the Job stays (with a deletionTimestamp) until its pods are gone; resolves then.
    const deadline = Date.now() + (opts.graceMs ?? 30_000) + 120_000;
    while (Date.now() < deadline) {
      if (!(await this.readJob(h))) break;
      await sleep(Math.min(this.pollMs, 500));
    }
    this.ended.set(h.name, { state: "vanished", reason: `Job ${h.name} was deleted by Paved (cancelled)` });
  }

  async cleanup(handle: ExecutionHandle): Promise<void> {
    const h = asKubernetes(handle);
    await this.call("delete the job's Secret", () => this.core.deleteNamespacedSecret({ name: h.secret, namespace: h.namespace })).catch(ignoreCode("NOT_FOUND"));
    if (h.pods > 1) await this.call("delete the headless Service", () => this.core.deleteNamespacedService({ name: h.name, namespace: h.namespace })).catch(ignoreCode("NOT_FOUND"));
    this.ended.delete(h.name);
    this.copies.delete(h.name);
  }

  async recover(job: { jobId: string; attempt: number; jobDir: string }): Promise<KubernetesHandle | undefined> {
    const names = attemptNames(this.settings.instance, job.jobId, job.attempt);
    const ns = this.settings.namespace;
    const list = await this.call("list Jobs", () => this.batch.listNamespacedJob({ namespace: ns, labelSelector: selectorOf(names) }));
    const found = list.items.find((j) => j.metadata?.name === names.job);
    if (!found) return undefined;
    return { kind: "kubernetes", jobId: job.jobId, attempt: job.attempt, namespace: ns, name: names.job, secret: names.secret, pods: found.spec?.completions ?? 1, logPath: attemptLogPath(job.jobDir, job.attempt) };
  }

  async *logs(handle: ExecutionHandle, opts: { follow: boolean; signal?: AbortSignal; offset?: number }): AsyncIterable<string> {
    const h = asKubernetes(handle);
    let pod: V1Pod | undefined;
    for (;;) {
      if (opts.signal?.aborted) return;
      pod = rankZero(await this.pods(h));
      const started = pod && (containerOf(pod)?.state?.running || containerOf(pod)?.state?.terminated);
      if (started || !opts.follow) break;
      const state = await this.observe(h);
      if (state.state !== "running" && state.state !== "pending") break;
      await sleep(Math.min(this.pollMs, 500), undefined, { signal: opts.signal }).catch(() => undefined);
    }
    if (!pod) {
      // The pod is gone (or never was): what was copied of its log.
      if (existsSync(h.logPath)) yield readFileSync(h.logPath, "utf8").slice(opts.offset ?? 0);
      return;
    }
    let skip = opts.offset ?? 0;
    let streamed = false;
    try {
      for await (const chunk of this.streamLog(h, pod.metadata!.name!, opts.follow, opts.signal)) {
        streamed = true;
        if (skip >= chunk.length) {
          skip -= chunk.length;
          continue;
        }
        yield chunk.subarray(skip).toString("utf8");
        skip = 0;
      }
    } catch (error) {
      // The pod went away (or its log cannot be read now) before anything came: what was copied of it.
      if (streamed || !existsSync(h.logPath)) throw error;
      yield readFileSync(h.logPath).subarray(opts.offset ?? 0).toString("utf8");
    }
  }

  /** Nodes' allocatable CPUs, memory and GPUs (nvidia.com/gpu, typed by gpu.product), cached 30 s. */
  resources(): Promise<BackendResources> {
    return this.readCapacity();
  }

  private readCapacity(): Promise<BackendResources & { products: string[] }> {
    const now = Date.now();
    if (this.capacity && now - this.capacity.at < 30_000) return this.capacity.value;
    const value = this.call("list nodes", () => this.core.listNode({})).then((list) => nodeResources(list.items, this.options.gpuProducts ?? {}));
    this.capacity = { at: now, value };
    value.catch(() => (this.capacity = undefined));
    return value;
  }

  /** The product label a gpuType asks for: the configured mapping, else a node product that contains it. */
  private async gpuProduct(gpuType: string): Promise<string> {
    const mapped = Object.entries(this.options.gpuProducts ?? {}).find(([type]) => type.toLowerCase() === gpuType.toLowerCase())?.[1];
    if (mapped) return mapped;
    const { products } = await this.readCapacity();
    const match = products.find((p) => p.toLowerCase().includes(gpuType.toLowerCase()));
    if (match) return match;
    const known = [...Object.keys(this.options.gpuProducts ?? {}), ...products];
    throw new PlatformError(
      "INVALID_INPUT",
      known.length
        ? `the Kubernetes cluster has no GPUs of type '${gpuType}'; its types are ${known.join(", ")}: ask for one of those (or map the type in compute.kubernetes.gpuProducts)`
        : `the Kubernetes cluster's nodes carry no ${GPU_PRODUCT_LABEL} label and compute.kubernetes.gpuProducts is empty, so gpuType '${gpuType}' cannot be placed; drop gpuType or map it`,
      { gpuTypes: known },
    );
  }

  /** The attempt ended: remembered (its Job may go), and its whole log copied once. */
  private async end(h: KubernetesHandle, state: ObservedState): Promise<ObservedState> {
    if (!this.ended.has(h.name)) await this.finishLog(h);
    this.ended.set(h.name, state);
    return state;
  }

  private async readJob(h: KubernetesHandle): Promise<V1Job | undefined> {
    try {
      return await this.call("read the Job", () => this.batch.readNamespacedJob({ name: h.name, namespace: h.namespace }));
    } catch (error) {
      if (error instanceof PlatformError && error.code === "NOT_FOUND") return undefined;
      throw error;
    }
  }

  private async pods(h: KubernetesHandle): Promise<V1Pod[]> {
    const list = await this.call("list the Job's pods", () => this.core.listNamespacedPod({ namespace: h.namespace, labelSelector: `${LABELS.instance}=${this.settings.instance},${LABELS.name}=${h.name}` }));
    return list.items;
  }

  /** Watches the attempt's pods, calling `onEvent` at each change; started again when the server ends it. */
  private watchPods(h: KubernetesHandle, onEvent: () => void, signal: AbortSignal): { stop(): void } {
    const path = `/api/v1/namespaces/${h.namespace}/pods`;
    const query = { labelSelector: `${LABELS.instance}=${this.settings.instance},${LABELS.name}=${h.name}`, timeoutSeconds: 300 };
    let current: AbortController | undefined;
    let stopped = false;
    const again = (ms: number) => void sleep(ms, undefined, { signal }).then(start, () => undefined);
    const start = async (): Promise<void> => {
      if (stopped || signal.aborted) return;
      try {
        current = await new Watch(this.options.kubeConfig).watch(path, query, () => onEvent(), () => {
          if (!stopped) again(this.pollMs);
        });
        if (stopped) current.abort();
      } catch {
        // The API server is away: polling carries on, and the watch starts again later.
        if (!stopped) again(this.pollMs * 5);
      }
    };
    void start();
    return {
      stop: () => {
        stopped = true;
        current?.abort();
      },
    };
  }

  /**
   * Copies rank 0's log to the attempt's log file while it runs (one copy per attempt); stopped with
   * the watch that started it, and started again (from the log's beginning) by the next one.
   */
  private followLog(h: KubernetesHandle, signal: AbortSignal): Promise<void> {
    let copy = this.copies.get(h.name);
    if (!copy) {
      copy = this.followInto(h, signal)
        .catch(() => undefined)
        .finally(() => {
          if (signal.aborted && this.copies.get(h.name) === copy) this.copies.delete(h.name);
        });
      this.copies.set(h.name, copy);
    }
    return copy;
  }

  /** The whole log in the attempt's log file once it ended: the follow's end (it ends with the container), or one read. */
  private async finishLog(h: KubernetesHandle): Promise<void> {
    const copy = this.copies.get(h.name);
    if (copy) {
      await Promise.race([copy, sleep(10_000)]);
      return;
    }
    const once = this.copyOnce(h).catch(() => undefined);
    this.copies.set(h.name, once);
    await once;
  }

  private async followInto(h: KubernetesHandle, signal: AbortSignal): Promise<void> {
    const pod = rankZero(await this.pods(h));
    if (!pod || signal.aborted) return;
    const out = createWriteStream(h.logPath, { flags: "w", mode: 0o600 });
    try {
      let written = 0;
      for await (const chunk of this.streamLog(h, pod.metadata!.name!, true, signal)) {
        if (written >= (this.options.maxLogBytes ?? 256 * 1024 ** 2)) break;
        out.write(chunk);
        written += chunk.length;
      }
    } finally {
      await new Promise((resolve) => out.end(resolve));
    }
  }

  private async copyOnce(h: KubernetesHandle): Promise<void> {
    const pod = rankZero(await this.pods(h));
    if (!pod) return;
    const parts: Buffer[] = [];
    for await (const chunk of this.streamLog(h, pod.metadata!.name!, false)) parts.push(chunk);
    writeFileSync(`${h.logPath}.tmp`, Buffer.concat(parts), { mode: 0o600 });
    renameSync(`${h.logPath}.tmp`, h.logPath);
  }

  private async *streamLog(h: KubernetesHandle, pod: string, follow: boolean, signal?: AbortSignal): AsyncIterable<Buffer> {
    const stream = new PassThrough();
    let controller: AbortController;
    try {
      controller = await new Log(this.options.kubeConfig).log(h.namespace, pod, JOB_CONTAINER, stream, { follow, limitBytes: this.options.maxLogBytes ?? 256 * 1024 ** 2 });
    } catch (error) {
      throw this.translate(error, "read the pod's log");
    }
    const stop = () => {
      controller.abort();
      stream.end();
    };
    signal?.addEventListener("abort", stop, { once: true });
    try {
      for await (const chunk of stream) yield chunk as Buffer;
    } finally {
      signal?.removeEventListener("abort", stop);
      controller.abort();
    }
  }

  /** One API call, bounded in time, its failure as a PlatformError. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new PlatformError("UNAVAILABLE", `the Kubernetes API server at ${this.server} did not answer within ${timeoutMs / 1000}s (${what}); check the cluster and compute.kubernetes.kubeconfig`)), timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (error) {
      throw this.translate(error, what);
    } finally {
      clearTimeout(timer);
    }
  }

  private translate(error: unknown, what: string): PlatformError {
    if (error instanceof PlatformError) return error;
    if (error instanceof ApiException) {
      const status = statusBody(error.body);
      const message = status?.message ?? (typeof error.body === "string" ? error.body.slice(0, 500) : `HTTP ${error.code}`);
      const code = Number(error.code);
      if (code === 404) return new PlatformError("NOT_FOUND", `Kubernetes could not ${what}: ${message}`);
      if (code === 409) return new PlatformError("CONFLICT", `Kubernetes could not ${what}: ${message}`);
      if (code === 400 || code === 422) {
        return new PlatformError("INVALID_INPUT", `Kubernetes refused to ${what}: ${message}; fix the job's compute profile (its kubernetes.podSpecPatch, priorityClassName or kueueQueue) or compute.kubernetes`, { reason: status?.reason });
      }
      if (code === 401 || code === 403) {
        return new PlatformError("UNAVAILABLE", `Kubernetes does not let Paved ${what} (HTTP ${code}: ${message}); grant Paved's service account the Role in docs/executors.md#rbac`);
      }
      return new PlatformError("UNAVAILABLE", `the Kubernetes API server at ${this.server} could not ${what} (HTTP ${code}: ${message}); Paved tries again`);
    }
    const cause = (error as { code?: string; message?: string }) ?? {};
    return new PlatformError("UNAVAILABLE", `the Kubernetes API server at ${this.server} is unavailable (${what}: ${cause.code ?? cause.message ?? String(error)}); check the cluster and compute.kubernetes.kubeconfig`);
  }
}

/** A KubeConfig from compute.kubernetes: a kubeconfig file (and context), or the pod's service account. */
export function loadKubeConfig(opts: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromCluster();
    if (opts.context) kc.setCurrentContext(opts.context);
  } catch (error) {
    throw new PlatformError("CONFIG", `compute.kubernetes: cannot load ${opts.kubeconfig ? `kubeconfig ${opts.kubeconfig}` : "the in-cluster service account"}: ${(error as Error).message}; set compute.kubernetes.kubeconfig to a readable kubeconfig`);
  }
  if (!kc.getCurrentCluster()) throw new PlatformError("CONFIG", `compute.kubernetes: the kubeconfig has no cluster for context '${kc.getCurrentContext()}'; set compute.kubernetes.context`);
  return kc;
}

/** The cluster's capacity from its nodes: ready, schedulable ones for now, all of them configured. */
export function nodeResources(nodes: V1Node[], gpuProducts: Record<string, string>): BackendResources & { products: string[] } {
  const up = { cpus: 0, memoryMiB: 0, gpus: [] as { name: string }[] };
  const configured = { cpus: 0, memoryMiB: 0, gpus: [] as { name: string }[] };
  const products = new Set<string>();
  for (const node of nodes) {
    const allocatable = node.status?.allocatable ?? {};
    const cpus = parseCpu(allocatable.cpu ?? "0");
    const memoryMiB = Math.floor(parseMemoryMiB(allocatable.memory ?? "0") ?? 0);
    const count = Number.parseInt(allocatable[GPU_RESOURCE] ?? "0", 10) || 0;
    const product = node.metadata?.labels?.[GPU_PRODUCT_LABEL];
    if (product && count > 0) products.add(product);
    // A GPU answers to its product label and to every gpuType mapped to it.
    const name = product ? [...Object.entries(gpuProducts).filter(([, p]) => p === product).map(([t]) => t), product].join(" ") : "gpu";
    const gpus = Array.from({ length: count }, () => ({ name }));
    configured.cpus += cpus;
    configured.memoryMiB += memoryMiB;
    configured.gpus.push(...gpus);
    const ready = node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    if (!ready || node.spec?.unschedulable) continue;
    up.cpus += cpus;
    up.memoryMiB += memoryMiB;
    up.gpus.push(...gpus);
  }
  const mapped = Object.entries(gpuProducts).filter(([, p]) => products.has(p)).map(([t]) => t);
  return { ...up, partitions: [], gpuTypes: [...new Set([...mapped, ...products])].sort(), configured, products: [...products].sort() };
}

/** "7910m" → 7.91, "8" → 8. */
export function parseCpu(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(quantity.trim());
  if (!m) return 0;
  return m[2] === "m" ? Number(m[1]) / 1000 : Number(m[1]);
}

function containerOf(pod: V1Pod) {
  return pod.status?.containerStatuses?.find((c) => c.name === JOB_CONTAINER);
}

/** The first non-zero exit status of the Job's pods (a failed rank), else 0 when all ended, else undefined. */
function exitCodeOf(pods: V1Pod[]): number | undefined {
  const codes = pods.map((p) => containerOf(p)?.state?.terminated?.exitCode).filter((c): c is number => c !== undefined);
  return codes.find((c) => c !== 0) ?? (codes.length ? 0 : undefined);
}

/** The pod of rank 0 (completion index 0), or the Job's only pod; the newest first. */
function rankZero(pods: V1Pod[]): V1Pod | undefined {
  const zero = pods.filter((p) => (p.metadata?.annotations?.[COMPLETION_INDEX_ANNOTATION] ?? "0") === "0");
  return zero.sort((a, b) => String(b.metadata?.creationTimestamp ?? "").localeCompare(String(a.metadata?.creationTimestamp ?? "")))[0];
}

/** Why an attempt's pods do not run yet, in Kubernetes' own words. */
function pendingReason(pods: V1Pod[], job: string): string {
  if (pods.length === 0) return `Job ${job} has no pod yet`;
  for (const pod of pods) {
    const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (scheduled?.status === "False") return `pod ${pod.metadata?.name} not scheduled (${scheduled.reason ?? "Pending"}: ${scheduled.message ?? "no message"})`;
    const waiting = containerOf(pod)?.state?.waiting;
    if (waiting) return `pod ${pod.metadata?.name} ${waiting.reason ?? "waiting"}${waiting.message ? `: ${waiting.message}` : ""}`;
  }
  return `pod ${pods[0]!.metadata?.name} is ${pods[0]!.status?.phase ?? "Pending"}`;
}

function statusBody(body: unknown): { message?: string; reason?: string } | undefined {
  if (typeof body === "string") {
    try {
      return JSON.parse(body) as { message?: string; reason?: string };
    } catch {
      return undefined;
    }
  }
  return typeof body === "object" && body !== null ? (body as { message?: string; reason?: string }) : undefined;
}

function ignoreCode(code: string) {
  return (error: unknown): undefined => {
    if (error instanceof PlatformError && error.code === code) return undefined;
    throw error;
  };
}

function asKubernetes(handle: ExecutionHandle): KubernetesHandle {
  if (handle.kind !== "kubernetes" || typeof handle.name !== "string" || typeof handle.namespace !== "string") {
    throw new PlatformError("INTERNAL", `handle of kind '${handle.kind}' given to the Kubernetes executor`);
  }
  return handle as KubernetesHandle;
}

export type { AttemptNames };
