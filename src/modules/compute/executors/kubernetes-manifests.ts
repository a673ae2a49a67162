import { createHash } from "node:crypto";
import type { V1Container, V1EnvVar, V1Job, V1PodSpec, V1Secret, V1Service, V1Toleration, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { JOB_CONTAINER } from "../../catalog/index.ts";
import type { Allocation } from "../schema.ts";
import type { ExecutionRequest } from "./executor.ts";

/** Labels Paved puts on everything it creates: how a restarted server finds an attempt again. */
export const LABELS = {
  instance: "paved.dev/instance",
  job: "paved.dev/job-id",
  attempt: "paved.dev/attempt",
  name: "paved.dev/name",
} as const;
/** The raw job id (labels hold a sanitised one). */
export const JOB_ID_ANNOTATION = "paved.dev/job-id";
export const GPU_RESOURCE = "nvidia.com/gpu";
export const GPU_PRODUCT_LABEL = "nvidia.com/gpu.product";
export const KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name";
export const COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";

/** The cluster side of compute.kubernetes: what every manifest is built from. */
export interface KubernetesSettings {
  namespace: string;
  image: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  serviceAccountName?: string;
  tolerations: V1Toleration[];
  priorityClassName?: string;
  kueueQueue?: string;
  ttlSecondsAfterFinished: number;
  sharedVolumes: { name: string; mountPath: string; claimName?: string; nfs?: { server: string; path: string }; hostPath?: string }[];
  instance: string;
  masterPort: number;
  /** Seconds a stopped pod has between SIGTERM and SIGKILL (compute.preemption.graceSeconds). */
  terminationGracePeriodSeconds?: number;
}

/** The names of one attempt's objects. */
export interface AttemptNames {
  /** The Job (and the headless Service of a distributed one): at most 52 characters, so `<job>-<index>` pod hostnames fit 63. */
  job: string;
  /** The Secret holding the attempt's environment. */
  secret: string;
  /** Label values that select the attempt's objects. */
  labels: Record<string, string>;
}

const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const shortHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 8);

/**
 * `raw` as a DNS-1035 label of at most `max` characters (what Job, Service and pod hostnames
 * need): lowercase, runs of other characters as '-', starting with a letter. A name that had to
 * change gets a hash of the original appended, so two different raw names never meet.
 */
export function kubernetesName(raw: string, max = 63): string {
  if (raw.length <= max && DNS_LABEL.test(raw)) return raw;
  const suffix = `-${shortHash(raw)}`;
  let base = raw.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-").replace(/^[^a-z]+/, "");
  base = base.slice(0, max - suffix.length).replace(/-+$/, "");
  return `${base || "x"}${suffix}`;
}

/** `raw` as a label value (63 characters of [A-Za-z0-9_.-], alphanumeric at both ends); changed ones carry a hash. */
export function labelValue(raw: string): string {
  if (raw.length <= 63 && LABEL_VALUE.test(raw)) return raw;
  const suffix = `-${shortHash(raw)}`;
  const base = raw.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63 - suffix.length).replace(/[^A-Za-z0-9]+$/, "");
  return `${base || "x"}${suffix}`;
}

export function attemptNames(instance: string, jobId: string, attempt: number): AttemptNames {
  const job = kubernetesName(`paved-${jobId}-${attempt}`, 52);
  return {
    job,
    secret: `${job}-env`,
    labels: { [LABELS.instance]: instance, [LABELS.job]: labelValue(jobId), [LABELS.attempt]: String(attempt), [LABELS.name]: job },
  };
}

/** The label selector of an attempt's objects (its Job, pods, Service and Secret). */
export function selectorOf(names: AttemptNames): string {
  return Object.entries(names.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

/** The Secret the job's environment (its token included) comes from: never in the pod spec itself. */
export function buildSecret(names: AttemptNames, settings: KubernetesSettings, env: Record<string, string>): V1Secret {
  const data: Record<string, string> = {};
  // envFrom takes keys that are valid variable names; Paved's and the job's are checked already.
  for (const [k, v] of Object.entries(env)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) data[k] = v;
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: names.secret, namespace: settings.namespace, labels: { ...names.labels } },
    type: "Opaque",
    stringData: data,
  };
}

/** The headless Service that gives a distributed job's pods their DNS names (`<job>-<index>.<job>`). */
export function buildService(names: AttemptNames, settings: KubernetesSettings, owner?: { uid: string }): V1Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: names.job,
      namespace: settings.namespace,
      labels: { ...names.labels },
      // Deleted with its Job (cancel, or the Job's TTL).
      ...(owner ? { ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: names.job, uid: owner.uid, blockOwnerDeletion: false, controller: false }] } : {}),
    },
    spec: {
      clusterIP: "None",
      // Ranks resolve each other before they are ready (the rendezvous is what makes them ready).
      publishNotReadyAddresses: true,
      selector: { [LABELS.name]: names.job },
      ports: [{ name: "rendezvous", port: settings.masterPort, targetPort: settings.masterPort, protocol: "TCP" }],
    },
  };
}

/**
 * Each rank of a pod that runs several (processesPerNode > 1): torchrun's variables from the
 * completion index, one process per local rank, every rank stopped when one fails. A fixed
 * script; the program's words come after it as "$@".
 */
export const POD_RANKS_WRAPPER = [
  'export NODE_RANK="$JOB_COMPLETION_INDEX" GROUP_RANK="$JOB_COMPLETION_INDEX"',
  "pids=''",
  "i=0",
  'while [ "$i" -lt "$LOCAL_WORLD_SIZE" ]; do',
  '  RANK=$((NODE_RANK * LOCAL_WORLD_SIZE + i)) LOCAL_RANK=$i "$@" &',
  '  pids="$pids $!"',
  "  i=$((i + 1))",
  "done",
  "trap 'kill -TERM $pids 2>/dev/null' TERM",
  "code=0",
  "for p in $pids; do",
  '  wait "$p" || { code=$?; kill -TERM $pids 2>/dev/null; }',
  "done",
  'exit "$code"',
].join("\n");

/**
 * The batch/v1 Job of an attempt. One pod, or for a distributed job an Indexed Job of one pod per
 * node (parallelism = completions = nodes) with torchrun's rendezvous variables (MASTER_ADDR is
 * pod 0's DNS name under the headless Service, RANK from the completion index). backoffLimit 0:
 * Paved owns retries; podFailurePolicy fails the whole Job at a rank's first non-zero exit (all
 * ranks stop) and names disruptions (preemption, eviction) so they are told apart.
 */
export function buildJob(job: ExecutionRequest, allocation: Allocation, settings: KubernetesSettings, names: AttemptNames, gpuProduct: string | undefined): V1Job {
  const { nodes, processesPerNode } = job.processes ?? { nodes: 1, processesPerNode: 1 };
  const worldSize = nodes * processesPerNode;
  const distributed = worldSize > 1;
  const gpusPerPod = Math.floor(allocation.gpus.length / nodes);
  const cpusPerPod = allocation.cpus / nodes;
  const memoryPerPod = Math.ceil(allocation.memoryMiB / nodes);
  const placement = job.placement ?? {};
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  if (cpusPerPod > 0) requests.cpu = `${Math.max(1, Math.round(cpusPerPod * 1000))}m`;
  if (memoryPerPod > 0) requests.memory = limits.memory = `${memoryPerPod}Mi`;
  if (gpusPerPod > 0) requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = String(gpusPerPod);
  // Not-secret variables of Paved's; everything of the job's own (its token included) is in the Secret.
  const env: V1EnvVar[] = [];
  // A pod without GPUs gets none visible, as on the local machine; with GPUs the device plugin sets the pod's.
  if (gpusPerPod === 0) env.push({ name: "CUDA_VISIBLE_DEVICES", value: "" });
  let command = [...job.argv];
  if (distributed) {
    const master = `${names.job}-0.${names.job}.${settings.namespace}.svc`;
    env.push(
      { name: "MASTER_ADDR", value: master },
      { name: "MASTER_PORT", value: String(settings.masterPort) },
      { name: "WORLD_SIZE", value: String(worldSize) },
      { name: "LOCAL_WORLD_SIZE", value: String(processesPerNode) },
    );
    if (processesPerNode === 1) {
      const index = { fieldRef: { fieldPath: `metadata.annotations['${COMPLETION_INDEX_ANNOTATION}']` } };
      env.push({ name: "RANK", valueFrom: index }, { name: "NODE_RANK", valueFrom: index }, { name: "GROUP_RANK", valueFrom: index }, { name: "LOCAL_RANK", value: "0" });
    } else {
      command = ["/bin/sh", "-c", POD_RANKS_WRAPPER, "paved-ranks", ...job.argv];
    }
  }
  const volumes: V1Volume[] = settings.sharedVolumes.map((v) => ({
    name: v.name,
    ...(v.claimName ? { persistentVolumeClaim: { claimName: v.claimName } } : {}),
    ...(v.nfs ? { nfs: { server: v.nfs.server, path: v.nfs.path } } : {}),
    ...(v.hostPath ? { hostPath: { path: v.hostPath, type: "Directory" } } : {}),
  }));
  const mounts: V1VolumeMount[] = settings.sharedVolumes.map((v) => ({ name: v.name, mountPath: v.mountPath }));
  const container: V1Container = {
    name: JOB_CONTAINER,
    image: settings.image,
    ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
    command,
    workingDir: job.workingDir,
    env,
    envFrom: [{ secretRef: { name: names.secret } }],
    resources: { requests, ...(Object.keys(limits).length ? { limits } : {}) },
    ...(mounts.length ? { volumeMounts: mounts } : {}),
  };
  const priorityClassName = placement.priorityClassName ?? settings.priorityClassName;
  let podSpec: V1PodSpec = {
    restartPolicy: "Never",
    containers: [container],
    ...(settings.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds } : {}),
    // No Kubernetes API token in the job's pod unless an operator named an account for jobs: the
    // namespace's default account may be the one Paved itself runs as, which reads every job's Secret.
    ...(settings.serviceAccountName ? { serviceAccountName: settings.serviceAccountName } : { automountServiceAccountToken: false }),
    ...(priorityClassName ? { priorityClassName } : {}),
    ...(gpuProduct ? { nodeSelector: { [GPU_PRODUCT_LABEL]: gpuProduct } } : {}),
    ...(settings.tolerations.length ? { tolerations: settings.tolerations.map((t) => ({ ...t })) } : {}),
    ...(volumes.length ? { volumes } : {}),
    ...(distributed ? { subdomain: names.job } : {}),
  };
  if (placement.podSpecPatch) podSpec = mergePodSpec(podSpec, placement.podSpecPatch);
  const kueueQueue = placement.kueueQueue ?? settings.kueueQueue;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: names.job,
      namespace: settings.namespace,
      labels: { ...names.labels, ...(kueueQueue ? { [KUEUE_QUEUE_LABEL]: kueueQueue } : {}) },
      annotations: { [JOB_ID_ANNOTATION]: job.jobId },
    },
    spec: {
      backoffLimit: 0,
      parallelism: nodes,
      completions: nodes,
      ...(distributed ? { completionMode: "Indexed" } : {}),
      ...(job.timeLimitSeconds !== undefined ? { activeDeadlineSeconds: Math.ceil(job.timeLimitSeconds) } : {}),
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      // Kueue admits a suspended Job when its queue has room; without Kueue it starts at once.
      ...(kueueQueue ? { suspend: true } : {}),
      podFailurePolicy: {
        rules: [
          { action: "FailJob", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
          { action: "FailJob", onExitCodes: { containerName: JOB_CONTAINER, operator: "NotIn", values: [0] } },
        ],
      },
      template: {
        metadata: { labels: { ...names.labels }, annotations: { [JOB_ID_ANNOTATION]: job.jobId } },
        spec: podSpec,
      },
    },
  };
}

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A profile's patch over Paved's PodSpec: objects merge key by key (JSON merge patch, null
 * removes), containers and init containers merge by name (Paved's `job` or added sidecars),
 * volumes and tolerations add to Paved's, other lists replace.
 */
export function mergePodSpec(base: V1PodSpec, patch: JsonObject): V1PodSpec {
  const out = structuredClone(base) as unknown as JsonObject;
  for (const [key, value] of Object.entries(patch)) {
    if (key === "containers" || key === "initContainers") out[key] = mergeByName((out[key] as JsonObject[] | undefined) ?? [], value as JsonObject[]);
    else if (key === "volumes" || key === "tolerations" || key === "imagePullSecrets") out[key] = [...((out[key] as unknown[] | undefined) ?? []), ...(value as unknown[])];
    else out[key] = mergeValue(out[key], value);
    if (out[key] === null) delete out[key];
  }
  return out as unknown as V1PodSpec;
}

function mergeByName(base: JsonObject[], patch: JsonObject[]): JsonObject[] {
  const out = base.map((c) => ({ ...c }));
  for (const p of patch) {
    const i = out.findIndex((c) => c.name === p.name);
    if (i >= 0) out[i] = mergeValue(out[i], p) as JsonObject;
    else out.push(structuredClone(p));
  }
  return out;
}

function mergeValue(base: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergeValue(out[k], v);
  }
  return out;
}
