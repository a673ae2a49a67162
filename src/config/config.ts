import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { PlatformError, TEAM_ROLES, describeProblems, validate } from "../core/index.ts";

const gpuSchema = z.strictObject({
  index: z.number().int().min(0),
  name: z.string().default("GPU"),
  uuid: z.string().optional(),
  memoryMiB: z.number().int().positive().default(16384),
});

// Names jobs get from Paved itself; the server's own values of these never reach a job.
const RESERVED_JOB_ENV = /^(PAVED_|MLFLOW_)|^CUDA_VISIBLE_DEVICES$/;
const JOB_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const jobEnvironmentSchema = z.strictObject({
  /** Server variables jobs also get: exact names, or a prefix ending in `*` (e.g. `NCCL_*`). */
  passthrough: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, "list variable names (letters, digits, '_'), or a prefix ending in '*' such as NCCL_*; '*' alone would hand jobs the server's secrets")
        .refine((p) => !RESERVED_JOB_ENV.test(p.replace(/\*$/, "")), "PAVED_*, MLFLOW_* and CUDA_VISIBLE_DEVICES are set by Paved for each job and never passed through; remove the entry"),
    )
    .default([]),
  /** Variables every job gets with these values (a job's own `env` wins over them). */
  set: z
    .record(
      z
        .string()
        .regex(JOB_ENV_NAME, "variable names use letters, digits and '_', not starting with a digit")
        .refine((n) => !RESERVED_JOB_ENV.test(n), "PAVED_*, MLFLOW_* and CUDA_VISIBLE_DEVICES are set by Paved for each job; rename the variable"),
      z.string(),
    )
    .default({}),
});

const JOB_LOGS_DEFAULTS = { maxFollowsPerPrincipal: 8, maxFollows: 128, maxFollowSeconds: 3600, maxReadBytes: 4 * 1024 ** 2 };
const jobLogsSchema = z.strictObject({
  /** Log follows (`paved logs -f`) one token may hold open at once. */
  maxFollowsPerPrincipal: z.number().int().positive().default(JOB_LOGS_DEFAULTS.maxFollowsPerPrincipal),
  /** Log follows the server holds open at once, all tokens together. */
  maxFollows: z.number().int().positive().default(JOB_LOGS_DEFAULTS.maxFollows),
  /** Seconds a follow lasts at most; it then ends with a line saying how to resume. */
  maxFollowSeconds: z.number().positive().default(JOB_LOGS_DEFAULTS.maxFollowSeconds),
  /** Largest part of a log one read without follow returns, in bytes (the rest is paged with `offset`). */
  maxReadBytes: z.number().int().positive().default(JOB_LOGS_DEFAULTS.maxReadBytes),
});

const WORKSPACE_IDLE_DEFAULTS = { idleMinutes: 60, gpuIdleMinutes: 30, warnMinutes: 10, ttlHours: 24 };
/** When a workspace is stopped for want of use: one profile's own limits, each optional (absent: the `idle` value). */
const workspaceIdleOverridesSchema = z.strictObject({
  /** Minutes without kernel activity (no cell running, no message to a kernel) before it is stopped. */
  idleMinutes: z.number().positive().optional(),
  /** Minutes its GPUs may sit at 0% utilisation (nvidia-smi) before it is stopped, even while a kernel idles. */
  gpuIdleMinutes: z.number().positive().optional(),
  /** Minutes before the stop that the workspace's events (and `paved workspace ls`) warn of it. */
  warnMinutes: z.number().min(0).optional(),
  /** Hours one session may run at most, used or not. */
  ttlHours: z.number().positive().optional(),
});
/**
 * Every profile's limits, defaulted. A profile's entry holds only what it sets: defaults filled into
 * it would override the operator's `idle` values (a profile that set only gpuIdleMinutes got
 * warnMinutes 10 whatever `idle` said).
 */
const workspaceIdleSchema = z.strictObject({
  idleMinutes: workspaceIdleOverridesSchema.shape.idleMinutes.unwrap().default(WORKSPACE_IDLE_DEFAULTS.idleMinutes),
  gpuIdleMinutes: workspaceIdleOverridesSchema.shape.gpuIdleMinutes.unwrap().default(WORKSPACE_IDLE_DEFAULTS.gpuIdleMinutes),
  warnMinutes: workspaceIdleOverridesSchema.shape.warnMinutes.unwrap().default(WORKSPACE_IDLE_DEFAULTS.warnMinutes),
  ttlHours: workspaceIdleOverridesSchema.shape.ttlHours.unwrap().default(WORKSPACE_IDLE_DEFAULTS.ttlHours),
});
const WORKSPACE_ENVIRONMENT_DEFAULTS = { findLinks: [], buildTimeoutSeconds: 900 };
const workspaceEnvironmentsSchema = z.strictObject({
  /** A YAML file of environments (name, version, python, packages); default: the built-in catalog. */
  file: z.string().optional(),
  /** A package index pip may install from (a PyPI mirror); unset: none, only what the interpreter has and findLinks. */
  indexUrl: z.string().url().optional(),
  /** Folders (or URLs) of wheels pip may install from. */
  findLinks: z.array(z.string().min(1)).default(WORKSPACE_ENVIRONMENT_DEFAULTS.findLinks),
  /** Seconds one environment's build may take before it is abandoned. */
  buildTimeoutSeconds: z.number().positive().default(WORKSPACE_ENVIRONMENT_DEFAULTS.buildTimeoutSeconds),
});
const warmPoolSchema = z.strictObject({
  /** The compute profile of the pool's servers. */
  profile: z.string().min(1),
  /** The team whose quota the pool's servers draw from, and whose members' new workspaces they become. */
  team: z.string().min(1),
  /** Servers kept started and waiting. */
  size: z.number().int().min(1).max(32),
});
const WORKSPACES_DEFAULTS = {
  jupyter: "/usr/bin/jupyter",
  python: "/usr/bin/python3",
  defaultProfile: "cpu",
  intervalSeconds: 5,
  idle: WORKSPACE_IDLE_DEFAULTS,
  profiles: {},
  environments: WORKSPACE_ENVIRONMENT_DEFAULTS,
  homeSizeMinutes: 10,
  homeSizeMaxEntries: 200_000,
  warmPool: [],
};
const workspacesSchema = z.strictObject({
  /** The Jupyter program (Debian's jupyter-notebook), by full path: pyenv's shims come first on PATH. */
  jupyter: z.string().startsWith("/", "give the jupyter program's full path, e.g. /usr/bin/jupyter").default(WORKSPACES_DEFAULTS.jupyter),
  /** The Python of kernels in workspaces without an environment (it needs ipykernel). */
  python: z.string().startsWith("/", "give the interpreter's full path, e.g. /usr/bin/python3").default(WORKSPACES_DEFAULTS.python),
  /** The compute profile of a workspace created without --profile. */
  defaultProfile: z.string().min(1).default(WORKSPACES_DEFAULTS.defaultProfile),
  /** Seconds between the controller's looks at running workspaces (activity, GPU use, culling). */
  intervalSeconds: z.number().positive().max(300).default(WORKSPACES_DEFAULTS.intervalSeconds),
  /** Idle limits and TTL of every profile. */
  idle: workspaceIdleSchema.default(WORKSPACE_IDLE_DEFAULTS),
  /** A profile's own idle limits and TTL (each field not given: `idle`'s). */
  profiles: z.record(z.string(), workspaceIdleOverridesSchema).default({}),
  /** The environment catalog (`--env`) and where its packages may come from (docs/workspaces.md#environments). */
  environments: workspaceEnvironmentsSchema.default(WORKSPACE_ENVIRONMENT_DEFAULTS),
  /** Minutes between measurements of a running workspace's home folder (its size counts toward the team's storage quota). */
  homeSizeMinutes: z.number().positive().default(10),
  /** Files and folders one measurement of a home folder looks at, at most (it counts what it saw). */
  homeSizeMaxEntries: z.number().int().positive().default(200_000),
  /** Started servers kept ready per profile and team, handed to that team's new workspaces (docs/workspaces.md#warm-pool). */
  warmPool: z.array(warmPoolSchema).default([]),
});

const SLURM_NAME = /^[A-Za-z0-9_.+-]{1,64}$/;
/** compute.slurm: the Slurm cluster profiles with `executor: slurm` (or compute.executor: slurm) run on. */
const slurmSchema = z.strictObject({
  /** slurm.conf of the cluster (SLURM_CONF for sbatch, squeue, sinfo, scancel); unset: Slurm's default. */
  conf: z.string().optional(),
  /** The folder of Slurm's commands; unset: found on PATH. */
  binDir: z.string().optional(),
  /** Where jobs go when their profile names no partition, QoS or account. */
  partition: z.string().regex(SLURM_NAME).optional(),
  qos: z.string().regex(SLURM_NAME).optional(),
  account: z.string().regex(SLURM_NAME).optional(),
  /** Seconds between reads of job states (one squeue for all jobs). */
  pollSeconds: z.number().positive().default(1),
  /** Longest wait before Slurm counts as down after it stopped answering, and between retries (doubling from 1 s). */
  maxRetrySeconds: z.number().positive().default(60),
});
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const k8sTolerationSchema = z.strictObject({
  key: z.string().min(1).max(316).optional(),
  operator: z.enum(["Equal", "Exists"]).optional(),
  value: z.string().max(63).optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
});
/** A volume every job pod mounts at the same path as on the server (the job folders, code and data must be there, as with Slurm's shared filesystem). */
const k8sSharedVolumeSchema = z
  .strictObject({
    name: z.string().regex(K8S_NAME).max(63),
    mountPath: z.string().startsWith("/"),
    /** A PersistentVolumeClaim in the namespace (ReadWriteMany). */
    claimName: z.string().regex(K8S_NAME).max(253).optional(),
    nfs: z.strictObject({ server: z.string().min(1), path: z.string().startsWith("/") }).optional(),
    /** A folder on every node (single-node clusters, kind); the admin's choice, never a profile's. */
    hostPath: z.string().startsWith("/").optional(),
  })
  .refine((v) => [v.claimName, v.nfs, v.hostPath].filter((x) => x !== undefined).length === 1, "a shared volume is exactly one of claimName, nfs or hostPath");
/** compute.kubernetes: the cluster profiles with `executor: kubernetes` (or compute.executor: kubernetes) run on (docs/executors.md#kubernetes). */
const kubernetesSchema = z.strictObject({
  /** A kubeconfig file; unset: the in-cluster service account (paved up running in a pod). */
  kubeconfig: z.string().min(1).optional(),
  /** The kubeconfig's context; unset: its current-context. */
  context: z.string().min(1).optional(),
  /** Where Paved creates its Jobs, Services and Secrets. */
  namespace: z.string().regex(K8S_NAME).max(63).default("default"),
  /** The container image of job pods: it must have the job's interpreter (python3 with its packages). */
  image: z.string().min(1),
  imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
  /** The service account job pods run as; unset: the namespace's default. */
  serviceAccountName: z.string().regex(K8S_NAME).max(253).optional(),
  /**
   * A job's gpuType (a profile's) → the node label `nvidia.com/gpu.product` it is placed by, e.g.
   * `{H100: NVIDIA-H100-80GB-HBM3}`. A type not listed matches a product label of the cluster's nodes by substring.
   */
  gpuProducts: z.record(z.string().min(1), z.string().regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/).max(63)).default({}),
  /** Tolerations of every job pod (e.g. the GPU nodes' taint `nvidia.com/gpu:NoSchedule`). */
  tolerations: z.array(k8sTolerationSchema).max(32).default([]),
  /** The PriorityClass of job pods whose profile names none. */
  priorityClassName: z.string().regex(K8S_NAME).max(253).optional(),
  /** The Kueue LocalQueue jobs are submitted to (label kueue.x-k8s.io/queue-name); unset: no Kueue. */
  kueueQueue: z.string().regex(K8S_NAME).max(63).optional(),
  /**
   * Seconds Kubernetes keeps an ended Job (and its pods, their logs) before deleting it. Longer than
   * Paved is ever down: an attempt whose Job is gone before Paved read its end counts as vanished.
   */
  ttlSecondsAfterFinished: z.number().int().min(0).default(86_400),
  /** Volumes every job pod mounts (the job folders must be on one). */
  sharedVolumes: z.array(k8sSharedVolumeSchema).max(16).default([]),
  /** This Paved's name on the cluster (label paved.dev/instance): servers sharing a namespace never adopt each other's jobs. */
  instance: z.string().regex(K8S_NAME).max(63).default("paved"),
  /** The rendezvous port of distributed jobs (MASTER_PORT). */
  masterPort: z.number().int().min(1024).max(65535).default(29500),
  /** Seconds between reads of a job's state when no watch event came. */
  pollSeconds: z.number().positive().default(2),
  /** Longest wait between tries when the API server does not answer (doubling from 1 s). */
  maxRetrySeconds: z.number().positive().default(60),
});
const PREEMPTION_DEFAULTS = { enabled: true, graceSeconds: 30 };
const preemptionSchema = z.strictObject({
  /** Off: queued jobs wait for running ones to end, whatever their priority or their team's share. */
  enabled: z.boolean().default(PREEMPTION_DEFAULTS.enabled),
  /** Seconds a preempted job has between SIGTERM and SIGKILL to save a checkpoint. */
  graceSeconds: z.number().min(0).max(3600).default(PREEMPTION_DEFAULTS.graceSeconds),
});

/** A team's limits when it sets none of its own (docs/teams.md#quotas); each unset one is unlimited. */
const defaultQuotaSchema = z.strictObject({
  gpus: z.number().int().min(0).optional(),
  /** Per GPU type, matched as a substring of the GPU's name (e.g. `{H100: 1}`). */
  gpusByType: z.record(z.string().min(1), z.number().int().min(0)).optional(),
  gpuHoursPerMonth: z.number().min(0).optional(),
  cpus: z.number().min(0).optional(),
  memoryMiB: z.number().int().min(0).optional(),
  servingReplicas: z.number().int().min(0).optional(),
  storageBytes: z.number().int().min(0).optional(),
});

const BUDGET_DEFAULTS = { intervalSeconds: 60, webhookHosts: [], webhookTimeoutSeconds: 10, webhookRetrySeconds: 30, webhookMaxAttempts: 8 };
/** Budgets (docs/teams.md#budgets-and-policies): how often they are checked, and where their webhooks may go. */
const budgetSettingsSchema = z.strictObject({
  /** Seconds between two checks of every budget (spend against thresholds); serving's usage is metered at the same pace. */
  intervalSeconds: z.number().min(0.05).max(3600).default(BUDGET_DEFAULTS.intervalSeconds),
  /** Hosts a team admin may send budget notifications to: a name, or `*.example.com` for its subdomains. Platform admins may name any host. */
  webhookHosts: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/, "a host name such as hooks.slack.com, or *.example.com for its subdomains")).default(BUDGET_DEFAULTS.webhookHosts),
  /** Seconds a webhook receiver has to answer one try. */
  webhookTimeoutSeconds: z.number().positive().max(120).default(BUDGET_DEFAULTS.webhookTimeoutSeconds),
  /** Seconds before the first retry of a notification that was not taken; each next retry waits twice as long (at most an hour). */
  webhookRetrySeconds: z.number().positive().max(3600).default(BUDGET_DEFAULTS.webhookRetrySeconds),
  /** Tries per notification before it is given up (and marked failed). */
  webhookMaxAttempts: z.number().int().min(1).max(50).default(BUDGET_DEFAULTS.webhookMaxAttempts),
});

/** Loopback hosts: where plain http is acceptable (tests, one machine). */
const LOOPBACK_URL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const isLoopbackUrl = (url: URL) => LOOPBACK_URL_HOSTS.has(url.hostname) || url.hostname.startsWith("127.");

/**
 * Single sign-on with OpenID Connect. The issuer is admin configuration: the server fetches only
 * its discovery document and the endpoints and keys (JWKS) that document names, never a URL a
 * request supplies.
 */
const ssoSchema = z.strictObject({
  /** The provider's issuer URL, exactly as its discovery document says (https; http only on loopback, for tests). */
  issuer: z
    .string()
    .url()
    .refine((value) => {
      const url = new URL(value);
      return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackUrl(url));
    }, "the issuer must be an https:// URL (http:// only on a loopback address, for tests)"),
  /** The client Paved is registered as at the provider. */
  clientId: z.string().min(1),
  /** The client's secret (PAVED_SSO_CLIENT_SECRET); unset for a public client, which then relies on PKCE alone. */
  clientSecret: z.string().min(1).optional(),
  /** Scopes asked for; add `groups` where the provider needs it to put groups in the ID token (Okta's org server). */
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "a scope is one word of printable characters")).default(["openid", "profile", "email"]),
  /** The ID-token claim holding the user's groups; a dotted path reaches into objects (e.g. realm_access.roles). */
  groupsClaim: z.string().min(1).default("groups"),
  /** The claim that names the user; unset: preferred_username, then email, then sub. */
  usernameClaim: z.string().min(1).optional(),
  /** Which group gives which role in which team; a user in several groups of one team gets the strongest role. */
  teams: z.array(z.strictObject({ group: z.string().min(1), team: z.string().min(1), role: z.enum(TEAM_ROLES) })).default([]),
  /** Groups whose members are platform admins. */
  platformAdminGroups: z.array(z.string().min(1)).default([]),
  /** How long a browser session (and a token from `paved login --sso`) lasts, in hours. */
  sessionHours: z.number().positive().max(24 * 90).default(12),
  /** Hosts besides Paved's own that a login may return to (`return_to`), e.g. the web UI's. */
  allowedRedirectHosts: z.array(z.string().min(1)).default([]),
});

const MiB = 1024 ** 2;
/** A multipart upload has at most this many parts, and an S3 object at most 5 TiB. */
const S3_MAX_PARTS = 10_000;
const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

/**
 * An S3 bucket (or an S3-compatible server's) holding the artifact blobs (docs/artifacts.md).
 * Keys never go in this file: they come from paved up's environment, a secret file, or the AWS
 * SDK's own chain (instance roles, IRSA).
 */
const s3Schema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens"),
  /** Key prefix of every object, e.g. `paved/` (ends with "/"; "" for the bucket's root). */
  prefix: z
    .string()
    .default("")
    .refine((p) => p === "" || (p.endsWith("/") && !p.startsWith("/") && !p.includes("//")), "a key prefix ends with '/' and does not start with one, e.g. paved/artifacts/"),
  region: z.string().min(1).default("us-east-1"),
  /** An S3-compatible server's URL (MinIO, Ceph RGW, …); unset: AWS S3 itself. */
  endpoint: z.string().url().optional(),
  /** The endpoint users' clients reach, when it differs from Paved's (presigned URLs are signed for it). */
  publicEndpoint: z.string().url().optional(),
  /** Path-style URLs (`endpoint/bucket/key`), which most S3-compatible servers need. */
  forcePathStyle: z.boolean().default(false),
  /**
   * Where the keys come from: `environment` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally
   * AWS_SESSION_TOKEN in paved up's environment), `file` (a YAML/JSON secret file with accessKeyId and
   * secretAccessKey), or `aws-sdk` (the SDK's default chain: instance roles, IRSA, ~/.aws).
   */
  credentials: z
    .discriminatedUnion("source", [
      z.strictObject({ source: z.literal("environment") }),
      z.strictObject({ source: z.literal("file"), path: z.string().min(1) }),
      z.strictObject({ source: z.literal("aws-sdk") }),
    ])
    .default({ source: "environment" }),
  /** Bytes per part of a multipart upload (S3's smallest is 5 MiB); memory per upload is about twice this. */
  partSizeBytes: z.number().int().min(5 * MiB, "S3's smallest part is 5 MiB (5242880 bytes)").max(5 * 1024 * MiB).default(8 * MiB),
  /** How long a presigned download URL (`?redirect=presigned`) stays valid, in seconds (S3 allows 7 days at most). */
  presignSeconds: z.number().int().min(1).max(7 * 24 * 3600).default(900),
  /** Seconds to wait for a connection to the object store. */
  connectTimeoutSeconds: z.number().positive().default(5),
  /** Seconds one request to the object store may take until it is answered (one part of an upload, not the whole file), and a download may stall. */
  requestTimeoutSeconds: z.number().positive().default(120),
});

const HOST_ENTRY = z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "a host name or IP, optionally with :port");
const CONNECTOR_LIMITS = { maxBytes: 10 * 1024 ** 3, maxFiles: 100_000, maxRows: 100_000_000, timeoutSeconds: 3600 };
const DATASET_CONNECTORS_DEFAULTS = { localRoots: [], allowedHosts: [], limits: CONNECTOR_LIMITS, postgres: { statementTimeoutSeconds: 300, batchRows: 2000 } };
/** Where dataset connectors may read from (docs/datasets.md#connectors): nothing, until an admin lists it here. */
const datasetConnectorsSchema = z.strictObject({
  /** Folders the `local` connector may read under, by name (a spec names the root and a path inside it). */
  localRoots: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "a root's name: lower-case letters, digits, '.', '_' or '-', at most 63 characters"),
        path: z.string().min(1).refine((p) => p.startsWith("/"), "an absolute folder path"),
      }),
    )
    .max(64)
    .refine((roots) => new Set(roots.map((r) => r.name)).size === roots.length, "each local root needs its own name")
    .default([]),
  /**
   * Hosts (`name` or `name:port`) the `postgres` and `s3` connectors may connect to. Empty: none.
   * Specs are written by teams, so this list is the only way data is fetched from elsewhere.
   */
  allowedHosts: z.array(HOST_ENTRY).max(256).default([]),
  /** Bounds of one snapshot: bytes written, files (objects), rows (a query's), and seconds it may take. */
  limits: z
    .strictObject({
      maxBytes: z.number().int().positive().default(CONNECTOR_LIMITS.maxBytes),
      maxFiles: z.number().int().positive().default(CONNECTOR_LIMITS.maxFiles),
      maxRows: z.number().int().positive().default(CONNECTOR_LIMITS.maxRows),
      timeoutSeconds: z.number().positive().default(CONNECTOR_LIMITS.timeoutSeconds),
    })
    .default(CONNECTOR_LIMITS),
  postgres: z
    .strictObject({
      /** Each statement's timeout on the source database (set in its read-only transaction). */
      statementTimeoutSeconds: z.number().positive().max(86_400).default(300),
      /** Rows fetched from the cursor at a time (what the server holds of a query at once). */
      batchRows: z.number().int().min(1).max(100_000).default(2000),
    })
    .default({ statementTimeoutSeconds: 300, batchRows: 2000 }),
});

/** The whole configuration of `paved up`, parsed once at start. */
export const configSchema = z.strictObject({
  host: z.string().default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Folder holding the SQLite database, artifacts, logs and job working files. */
  dataDir: z.string().default("./.paved"),
  /** `postgres://…` switches metadata to PostgreSQL; unset means SQLite in dataDir. */
  databaseUrl: z.string().optional(),
  /** The URL jobs use to reach this server (MLFLOW_TRACKING_URI); derived from host/port when unset. */
  publicUrl: z.string().url().optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** The web UI's built files (`npm run build:web`); default web/dist of this checkout (PAVED_UI_DIR). */
  uiDir: z.string().optional(),
  auth: z
    .strictObject({
      /** Admin token to accept instead of generating one (PAVED_ADMIN_TOKEN). */
      adminToken: z.string().min(16).optional(),
      /** Turns authentication off; refused unless the server binds a loopback address. */
      disabled: z.boolean().default(false),
      /** Single sign-on with an OpenID Connect provider (docs/teams.md#single-sign-on). */
      sso: ssoSchema.optional(),
    })
    .default({ disabled: false }),
  http: z
    .strictObject({
      /** Largest JSON request body, in bytes (inference and uploads have their own limits). */
      maxBodyBytes: z.number().int().positive().default(4 * 1024 ** 2),
      /** Seconds a client has to send a whole request, body included; 0 turns the bound off. */
      requestTimeoutSeconds: z.number().min(0).default(300),
      /**
       * Proxies (IP addresses or CIDRs, e.g. 10.0.0.0/8) whose X-Forwarded-For names the client; the
       * audit log records that address. Empty: the connection's own address, the header ignored.
       */
      trustedProxies: z.array(z.string().refine(isProxyAddress, "use an IP address, a CIDR such as 10.0.0.0/8, or loopback, linklocal or uniquelocal")).default([]),
      /**
       * Replicas on one PostgreSQL database: the URL the other replicas reach this one at, to forward
       * requests to it while it leads (PAVED_ADVERTISE_URL). Unset: http://<host>:<port>, with this
       * machine's hostname for a wildcard host.
       */
      advertiseUrl: z.string().url().optional(),
    })
    .default({ maxBodyBytes: 4 * 1024 ** 2, requestTimeoutSeconds: 300, trustedProxies: [] }),
  audit: z
    .strictObject({
      /**
       * Record each run-tracking write (log-batch, metrics, params, tags, artifact uploads) one by one,
       * committed before its answer. Off (the default): they are summarised per actor, run, route and
       * outcome, written every `summarySeconds`; refusals are still recorded one by one.
       */
      dataEvents: z.boolean().default(false),
      /** Days an audit record is kept (pruned hourly); 0 keeps them forever. */
      retentionDays: z.number().int().min(0).default(365),
      /** Seconds between writes of the run-tracking summaries (what kill -9 can lose of them). */
      summarySeconds: z.number().positive().max(3600).default(60),
    })
    .default({ dataEvents: false, retentionDays: 365, summarySeconds: 60 }),
  /** Deleted runs and reclaiming their space (docs/tracking.md#deleting-runs-and-reclaiming-space). */
  tracking: z
    .strictObject({
      /** Days a deleted run (or a run of a deleted experiment) stays restorable before garbage collection removes it. */
      retentionDays: z.number().min(0).max(36_500).default(30),
      /** How often the garbage collector looks for runs past retention (0: never by itself; `paved gc` still works). */
      gcIntervalMinutes: z.number().min(0).max(10_080).default(60),
      /**
       * A blob written this recently is kept even when nothing references it (an upload of the same
       * bytes may be about to): more than the longest request (http.requestTimeoutSeconds).
       */
      gcMinBlobAgeSeconds: z.number().int().min(0).default(3600),
    })
    .default({ retentionDays: 30, gcIntervalMinutes: 60, gcMinBlobAgeSeconds: 3600 }),
  artifacts: z
    .strictObject({
      /** Largest single artifact upload accepted, in bytes. */
      maxUploadBytes: z.number().int().positive().default(2 * 1024 ** 3),
      /** Where blobs live: `local` (a folder in dataDir) or `s3` (a bucket, set in `s3`). */
      store: z.enum(["local", "s3"]).default("local"),
      s3: s3Schema.optional(),
    })
    .superRefine((artifacts, ctx) => {
      if (artifacts.store !== "s3") return;
      if (!artifacts.s3) {
        ctx.addIssue({ code: "custom", path: ["s3"], message: "artifacts.store is s3: set artifacts.s3 with at least bucket (and endpoint, forcePathStyle: true for an S3-compatible server)" });
      }
      const partSize = artifacts.s3?.partSizeBytes ?? 8 * MiB;
      const largest = Math.min(partSize * S3_MAX_PARTS, S3_MAX_OBJECT_BYTES);
      // A part size refused above has its own message; this one would only repeat it.
      if (partSize >= 5 * MiB && artifacts.maxUploadBytes > largest) {
        ctx.addIssue({
          code: "custom",
          path: ["maxUploadBytes"],
          message: `an S3 upload has at most ${S3_MAX_PARTS} parts of artifacts.s3.partSizeBytes (${partSize}) and S3 objects stop at 5 TiB: set maxUploadBytes to ${largest} or less, or raise partSizeBytes`,
        });
      }
    })
    .default({ maxUploadBytes: 2 * 1024 ** 3, store: "local" }),
  registry: z
    .strictObject({
      /** Bounds of reading an ONNX model (its signature, and the check for external data) at registration and before serving loads it. */
      onnx: z
        .strictObject({
          /** Bytes of a model's structure read (graph, nodes, names; the weights are skipped and do not count). */
          maxStructureBytes: z.number().int().positive().default(64 * 1024 ** 2),
          /** Seconds of a worker thread's time one model may take to read. */
          timeoutSeconds: z.number().positive().default(30),
        })
        .default({ maxStructureBytes: 64 * 1024 ** 2, timeoutSeconds: 30 }),
    })
    .default({ onnx: { maxStructureBytes: 64 * 1024 ** 2, timeoutSeconds: 30 } }),
  monitoring: z
    .strictObject({
      /** How often live samples are drained into monitor windows and alert rules are evaluated. */
      intervalSeconds: z.number().positive().max(60).default(1),
      alerts: z
        .strictObject({
          /**
           * Hosts (`name` or `name:port`) alert webhooks may be sent to. Empty: no receiver can be
           * created. Receivers are team-made, so this list is the only way out of the server.
           */
          allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "a host name or IP, optionally with :port")).default([]),
          /** Each delivery's timeout, and how many tries before an alert's delivery is given up (it is retried every interval until then). */
          timeoutSeconds: z.number().positive().max(60).default(5),
          maxAttempts: z.number().int().min(1).max(100).default(10),
        })
        .default({ allowedHosts: [], timeoutSeconds: 5, maxAttempts: 10 }),
    })
    .default({ intervalSeconds: 1, alerts: { allowedHosts: [], timeoutSeconds: 5, maxAttempts: 10 } }),
  evaluation: z
    .strictObject({
      /** Largest evaluation CSV (data or reference) read, and largest accepted as an upload, in bytes. */
      maxDataBytes: z.number().int().positive().default(256 * 1024 ** 2),
    })
    .default({ maxDataBytes: 256 * 1024 ** 2 }),
  compute: z
    .strictObject({
      /** `auto` asks nvidia-smi; a list overrides discovery (machines without GPUs, tests). */
      gpus: z.union([z.literal("auto"), z.array(gpuSchema)]).default("auto"),
      nvidiaSmi: z.string().default("nvidia-smi"),
      /** Schedulable CPUs and memory; default: what the machine has. */
      cpus: z.number().positive().optional(),
      memoryMiB: z.number().int().positive().optional(),
      /** A YAML file of compute profiles that replaces the built-in catalog. */
      profilesFile: z.string().optional(),
      /** Seconds between system-metric samples of a running job. */
      systemMetricsInterval: z.number().positive().default(10),
      /** Python interpreter used to record a job's environment (version, packages). */
      python: z.string().default("python3"),
      /**
       * What jobs get of the server's environment: a built-in allow-list (PATH, HOME, LANG, …) plus
       * `passthrough` names (`NAME` or a prefix `NAME_*`), then the fixed values of `set`.
       */
      jobEnvironment: jobEnvironmentSchema.default({ passthrough: [], set: {} }),
      /**
       * The OS user every job runs as (by name or uid); `paved up` must then run as root. Unset: jobs
       * run as the server's own user and can read its data dir.
       */
      runAs: z.string().min(1).optional(),
      /** Bounds of job log reads and follows. */
      logs: jobLogsSchema.default(JOB_LOGS_DEFAULTS),
      /** Preemption: a higher-priority job of a team, or a job of a team under its fair share, may take GPUs from preemptible running jobs. */
      preemption: preemptionSchema.default(PREEMPTION_DEFAULTS),
      /** The backend of jobs whose profile names none (and of jobs asking for raw resources): local, slurm or kubernetes. */
      executor: z.enum(["local", "slurm", "kubernetes"]).default("local"),
      /** A Slurm cluster jobs may run on (docs/executors.md); unset: no Slurm executor. */
      slurm: slurmSchema.optional(),
      /** A Kubernetes cluster jobs may run on (docs/executors.md#kubernetes); unset: no Kubernetes executor. */
      kubernetes: kubernetesSchema.optional(),
    })
    .default({ gpus: "auto", nvidiaSmi: "nvidia-smi", systemMetricsInterval: 10, python: "python3", jobEnvironment: { passthrough: [], set: {} }, logs: JOB_LOGS_DEFAULTS, preemption: PREEMPTION_DEFAULTS, executor: "local" }),
  guardrails: z
    .strictObject({
      /** The quota of every team that has not set its own limit (`paved quotas set`); unset: unlimited. */
      defaultQuota: defaultQuotaSchema.default({}),
      /** Team budgets: the check interval and the hosts their webhooks may go to. */
      budgets: budgetSettingsSchema.default(BUDGET_DEFAULTS),
    })
    .default({ defaultQuota: {}, budgets: BUDGET_DEFAULTS }),
  /** Workspaces: Jupyter servers scheduled as jobs, reached through Paved's proxy (docs/workspaces.md). */
  workspaces: workspacesSchema.default(WORKSPACES_DEFAULTS),
  /** Team secrets (docs/secrets.md): the AES-256-GCM key their values are encrypted under. */
  secrets: z
    .strictObject({
      /** The key file (32 random bytes); default <dataDir>/secrets.key, created with mode 0600 at first start. Keep it out of backups of the database. */
      keyFile: z.string().min(1).optional(),
    })
    .default({}),
  /** Datasets (docs/datasets.md): bounds of uploads and of the statistics DuckDB computes. */
  datasets: z
    .strictObject({
      /** Largest file of a dataset version, in bytes (an upload is also bounded by artifacts.maxUploadBytes). */
      maxFileBytes: z.number().int().positive().default(16 * 1024 ** 3),
      /** Rows kept as each CSV and Parquet file's stored preview. */
      previewRows: z.number().int().min(1).max(1000).default(20),
      /** Columns of a file that get statistics; the rest are listed with their type. */
      maxStatisticsColumns: z.number().int().min(1).max(10_000).default(500),
      /** Longest text of one preview cell or statistic value (longer ones are cut). */
      maxCellChars: z.number().int().min(16).max(65_536).default(256),
      /** The one DuckDB instance: its threads, memory limit (it spills under dataDir past it) and files analysed at once. */
      duckdb: z
        .strictObject({
          threads: z.number().int().min(1).max(256).default(4),
          memoryLimitMiB: z.number().int().min(64).default(2048),
          maxConcurrent: z.number().int().min(1).max(64).default(2),
        })
        .default({ threads: 4, memoryLimitMiB: 2048, maxConcurrent: 2 }),
      /** Where connectors may read from: local roots, allowed hosts, and the bounds of one snapshot (docs/datasets.md#connectors). */
      connectors: datasetConnectorsSchema.default(DATASET_CONNECTORS_DEFAULTS),
    })
    .default({ maxFileBytes: 16 * 1024 ** 3, previewRows: 20, maxStatisticsColumns: 500, maxCellChars: 256, duckdb: { threads: 4, memoryLimitMiB: 2048, maxConcurrent: 2 }, connectors: DATASET_CONNECTORS_DEFAULTS }),
  /** Batch inference (docs/batch-inference.md): `paved predict` and POST /api/v1/predictions. */
  predictions: z
    .strictObject({
      /** Worker threads running the model per prediction; `auto`: every core but one (at least 1, at most 8). */
      workers: z.union([z.literal("auto"), z.number().int().min(1).max(64)]).default("auto"),
      /** Rows per model run. */
      chunkRows: z.number().int().min(1).max(1_048_576).default(8192),
      /** Predictions run at once; more wait, queued, in creation order. */
      concurrency: z.number().int().min(1).max(16).default(1),
      /** DuckDB's memory limit per prediction, MiB (beyond it DuckDB spills to the data dir). */
      memoryLimitMiB: z.number().int().min(64).default(512),
      /** DuckDB's threads per prediction (reading the input, writing the output). */
      duckdbThreads: z.number().int().min(1).max(64).default(2),
      /** How often the controller looks for queued predictions (it is also woken by each new one). */
      intervalSeconds: z.number().positive().max(3600).default(1),
    })
    .default({ workers: "auto", chunkRows: 8192, concurrency: 1, memoryLimitMiB: 512, duckdbThreads: 2, intervalSeconds: 1 }),
  /** Sweeps (docs/sweeps.md): how often the sweep controller looks at running sweeps (starts trials, reads their metrics). */
  sweeps: z.strictObject({ intervalSeconds: z.number().positive().max(3600).default(1) }).default({ intervalSeconds: 1 }),
  /** Pipelines (docs/pipelines.md): how often the pipeline controller looks at running runs (a job step's end also wakes it at once). */
  pipelines: z.strictObject({ intervalSeconds: z.number().positive().max(3600).default(1) }).default({ intervalSeconds: 1 }),
  /** What starts pipelines by themselves: cron schedules, new dataset versions, git pushes (docs/pipelines.md#triggers). */
  triggers: z
    .strictObject({
      /** How often schedules, datasets and received pushes are looked at. */
      intervalSeconds: z.number().positive().max(3600).default(5),
      /**
       * Where a git trigger may fetch pushed commits from: https URL prefixes (https://github.com/acme/)
       * or absolute folders on this machine (/srv/git/). Nothing else is fetched.
       */
      allowedRemotes: z.array(z.string().min(2).max(1024)).max(100).default([]),
    })
    .default({ intervalSeconds: 5, allowedRemotes: [] }),
  serving: z
    .strictObject({
      /** Largest inference request body (JSON) accepted, in bytes; larger ones get 413. */
      maxRequestBytes: z.number().int().positive().default(16 * 1024 ** 2),
      /** Largest model upload through the admin load route, in bytes. */
      maxModelBytes: z.number().int().positive().default(1024 ** 3),
      /** Share of requests written to the prediction log (0 turns it off). */
      sampleRate: z.number().min(0).max(1).default(1),
      /** At most this many logged predictions per second per model version. */
      sampleMaxPerSecond: z.number().int().min(0).default(100),
      /**
       * Whether serving keeps a bounded sample of live inputs and outcomes for model monitors
       * (docs/observability.md#model-monitors); off, monitors see no traffic. Its cost is in
       * docs/benchmarks.md#monitoring.
       */
      liveSamples: z.boolean().default(true),
      /** Largest total size of one inference request's outputs, in bytes of tensor data; larger answers 413. */
      maxOutputBytes: z.number().int().positive().default(4 * 1024 ** 2),
      /** Most replicas (worker threads) one loaded model version may run, autoscaled or not. */
      maxReplicasPerVersion: z.number().int().min(1).max(1024).default(8),
      /** Most inference requests waiting for a worker per loaded version; more answer 503. */
      maxQueuedRequests: z.number().int().min(1).default(1024),
      /**
       * A version whose one-row run measures at most this many ms at load answers its small requests
       * on the HTTP thread, without the hop to a worker thread (0: always on workers). No request
       * holds the thread longer than this; larger ones, and slower models, run on workers.
       */
      inlineBelowMs: z.number().min(0).max(50).default(0.2),
      /**
       * Where models are served (docs/serving.md#the-data-plane): by data-plane processes that `paved up`
       * starts and that keep serving while it restarts, or (processes: 0) inside the control plane's
       * own process, which then stops serving whenever it stops.
       */
      dataPlane: z
        .strictObject({
          /** How many data-plane processes `paved up` runs (0: serve inside the control plane). */
          processes: z.number().int().min(0).max(64).default(1),
          /** The port of process 0, the next ones counting up; unset: the control plane's port + 1 (any free port when that is 0). */
          port: z.number().int().min(0).max(65535).optional(),
          /**
           * Data-plane processes running elsewhere (`paved dataplane run` on another machine or in a
           * container, on the same database), by base URL: driven like the local ones, with the
           * secret in <dataDir>/dataplane/secret.
           */
          remote: z
            .array(z.url({ protocol: /^https?$/, error: "a data-plane process's base URL, http(s)://host:port" }))
            .max(256)
            .default([]),
        })
        .default({ processes: 1, remote: [] }),
    })
    .default({ maxRequestBytes: 16 * 1024 ** 2, maxModelBytes: 1024 ** 3, sampleRate: 1, sampleMaxPerSecond: 100, liveSamples: true, maxOutputBytes: 4 * 1024 ** 2, maxReplicasPerVersion: 8, maxQueuedRequests: 1024, inlineBelowMs: 0.2, dataPlane: { processes: 1, remote: [] } }),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export interface LoadConfigOptions {
  /** The environment to read PAVED_* variables from. */
  env: NodeJS.ProcessEnv;
  /** Values from command-line flags; they win over the file and the environment. */
  overrides?: Partial<ConfigInput>;
  /** A YAML config file (also PAVED_CONFIG). */
  file?: string;
}

/** Merges file < environment < flags and validates the result; the only reader of `process.env`. */
export function loadConfig({ env, overrides = {}, file }: LoadConfigOptions): Config {
  const path = file ?? env.PAVED_CONFIG;
  const fromFile = path ? readYamlConfig(path) : {};
  const fromEnv: Partial<ConfigInput> = {};
  if (env.PAVED_DATA_DIR) fromEnv.dataDir = env.PAVED_DATA_DIR;
  if (env.PAVED_DATABASE_URL) fromEnv.databaseUrl = env.PAVED_DATABASE_URL;
  if (env.PAVED_HOST) fromEnv.host = env.PAVED_HOST;
  if (env.PAVED_PORT) fromEnv.port = Number(env.PAVED_PORT);
  if (env.PAVED_LOG_LEVEL) fromEnv.logLevel = env.PAVED_LOG_LEVEL as Config["logLevel"];
  if (env.PAVED_PUBLIC_URL) fromEnv.publicUrl = env.PAVED_PUBLIC_URL;
  if (env.PAVED_UI_DIR) fromEnv.uiDir = env.PAVED_UI_DIR;
  if (env.PAVED_ADVERTISE_URL) fromEnv.http = { ...(fromFile.http as object | undefined), advertiseUrl: env.PAVED_ADVERTISE_URL } as ConfigInput["http"];
  refusePlainTextS3Keys(fromFile, path);
  const merged: Record<string, unknown> = { ...fromFile, ...fromEnv, ...stripUndefined(overrides) };
  if (env.PAVED_ADMIN_TOKEN) {
    merged.auth = { ...(merged.auth as object | undefined), adminToken: env.PAVED_ADMIN_TOKEN };
  }
  const sso = (merged.auth as { sso?: object } | undefined)?.sso;
  if (env.PAVED_SSO_CLIENT_SECRET && sso) {
    merged.auth = { ...(merged.auth as object), sso: { ...sso, clientSecret: env.PAVED_SSO_CLIENT_SECRET } };
  }
  const result = validate(configSchema, merged);
  if (!result.success) {
    // Every bad field at once (each unknown one with the closest known field), not the first only.
    throw new PlatformError("CONFIG", `invalid configuration: ${describeProblems(result.problems)}; fix the flag, PAVED_* variable or config file`, {
      problems: result.problems,
    });
  }
  const config = result.data;
  config.dataDir = resolve(config.dataDir);
  return config;
}

function readYamlConfig(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new PlatformError("CONFIG", `cannot read config file '${path}'; check the path given to --config or PAVED_CONFIG`);
  }
  const value: unknown = parseYaml(text);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new PlatformError("CONFIG", `config file '${path}' must hold a YAML mapping`);
  }
  return value as Record<string, unknown>;
}

/** Keys written into the config file are refused by name, with where they belong instead. */
function refusePlainTextS3Keys(fromFile: Record<string, unknown>, path: string | undefined): void {
  const s3 = (fromFile.artifacts as { s3?: Record<string, unknown> } | undefined)?.s3;
  const places = [s3, s3?.credentials as Record<string, unknown> | undefined];
  if (places.some((place) => place && typeof place === "object" && ["accessKeyId", "secretAccessKey", "sessionToken", "secretKey", "accessKey"].some((key) => key in place))) {
    throw new PlatformError(
      "CONFIG",
      `config file '${path}' holds S3 keys in plain text under artifacts.s3; remove them and use credentials: { source: environment } (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or { source: file, path: <a secret file> }`,
    );
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What Fastify's trustProxy (proxy-addr) accepts: an address, a CIDR, or one of its named ranges. */
function isProxyAddress(value: string): boolean {
  if (["loopback", "linklocal", "uniquelocal"].includes(value)) return true;
  const [address = "", bits, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

export function isLoopback(host: string): boolean {
  return host === "127.0.0.1" || host === "localhost" || host === "::1" || host.startsWith("127.");
}
