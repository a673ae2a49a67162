// Every manifest the Kubernetes executor produces, validated against the official Kubernetes
// OpenAPI schemas (the `kubernetes-models` package's generated validators), plus the rules the
// manifests follow: sanitised yet unique names, GPU limits and product selectors, the token kept
// out of the pod spec, the distributed (Indexed Job + headless Service) layout.
import { execFileSync } from "node:child_process";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { configSchema } from "../../../config/index.ts";
import { podSpecPatchHostAccess, podSpecPatchProblems } from "../../catalog/index.ts";
import type { ExecutionRequest } from "./executor.ts";
import { nodeResources, parseCpu } from "./kubernetes-executor.ts";
import { attemptNames, buildJob, buildSecret, buildService, kubernetesName, labelValue, mergePodSpec, POD_RANKS_WRAPPER, type KubernetesSettings } from "./kubernetes-manifests.ts";

const SETTINGS: KubernetesSettings = {
  namespace: "ml-jobs",
  image: "registry.example/paved-job:py3.12",
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
  ttlSecondsAfterFinished: 3600,
  sharedVolumes: [{ name: "paved-data", mountPath: "/srv/paved", claimName: "paved-data" }],
  instance: "paved",
  masterPort: 29500,
  terminationGracePeriodSeconds: 30,
  priorityClassName: "ml-default",
};
const TOKEN = "pvd_manifest-secret-token";
const request = (extra: Partial<ExecutionRequest> = {}): ExecutionRequest => ({
  jobId: "job-01HX7Q",
  attempt: 1,
  argv: ["python", "train.py", "--lr=0.1"],
  workingDir: "/srv/paved/code",
  env: { PAVED_JOB_ID: "job-01HX7Q", MLFLOW_TRACKING_TOKEN: TOKEN, MY_VAR: "x" },
  jobDir: "/srv/paved/jobs/job-01HX7Q",
  ...extra,
});
const names = attemptNames("paved", "job-01HX7Q", 1);

/** Throws (with the schema's words) when the object does not validate. */
const validJob = (job: object) => new Job(job as ConstructorParameters<typeof Job>[0]).validate();

describe("Kubernetes manifests against the official OpenAPI schemas (kubernetes-models)", () => {
  it("the validator refuses a broken manifest (so the passes below mean something)", () => {
    const job = buildJob(request(), { gpus: [], cpus: 1, memoryMiB: 512 }, SETTINGS, names, undefined);
    expect(() => validJob({ ...job, spec: { ...job.spec, backoffLimit: "zero" } })).toThrow();
    expect(() => validJob({ ...job, spec: { ...job.spec, template: { spec: { containers: [{ image: "x" }] } } } })).toThrow();
  });

  it("a one-pod Job with GPUs, product selector, tolerations, priority class, Kueue label and deadline validates", () => {
    const job = buildJob(request({ gpuType: "H100", timeLimitSeconds: 3630 }), { gpus: [10000, 10001], cpus: 8, memoryMiB: 32768 }, { ...SETTINGS, kueueQueue: "team-a" }, names, "NVIDIA-H100-80GB-HBM3");
    expect(() => validJob(job)).not.toThrow();
    const spec = job.spec!;
    const pod = spec.template.spec!;
    const container = pod.containers[0]!;
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(3630);
    expect(spec.ttlSecondsAfterFinished).toBe(3600);
    expect(spec.suspend).toBe(true);
    expect(spec.podFailurePolicy!.rules.map((r) => r.action)).toEqual(["FailJob", "FailJob"]);
    expect(job.metadata!.labels!["kueue.x-k8s.io/queue-name"]).toBe("team-a");
    expect(job.metadata!.labels).toMatchObject({ "paved.dev/instance": "paved", "paved.dev/job-id": "job-01HX7Q", "paved.dev/attempt": "1" });
    expect(container.resources!.limits!["nvidia.com/gpu"]).toBe("2");
    expect(container.resources!.requests).toMatchObject({ cpu: "8000m", memory: "32768Mi", "nvidia.com/gpu": "2" });
    expect(pod.nodeSelector).toEqual({ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" });
    expect(pod.tolerations).toEqual(SETTINGS.tolerations);
    expect(pod.priorityClassName).toBe("ml-default");
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(container.command).toEqual(["python", "train.py", "--lr=0.1"]);
    expect(container.workingDir).toBe("/srv/paved/code");
    expect(pod.volumes).toEqual([{ name: "paved-data", persistentVolumeClaim: { claimName: "paved-data" } }]);
  });

  it("keeps the job's token and variables out of the pod spec: they come from the Secret through envFrom", () => {
    const job = buildJob(request(), { gpus: [], cpus: 1, memoryMiB: 512 }, SETTINGS, names, undefined);
    expect(JSON.stringify(job)).not.toContain(TOKEN);
    expect(JSON.stringify(job)).not.toContain("MY_VAR");
    const container = job.spec!.template.spec!.containers[0]!;
    expect(container.envFrom).toEqual([{ secretRef: { name: names.secret } }]);
    // Nor an API token of the namespace's default account (possibly Paved's own, which reads every job's Secret).
    expect(job.spec!.template.spec!.automountServiceAccountToken).toBe(false);
    expect(buildJob(request(), { gpus: [], cpus: 1, memoryMiB: 512 }, { ...SETTINGS, serviceAccountName: "paved-jobs" }, names, undefined).spec!.template.spec).toMatchObject({ serviceAccountName: "paved-jobs" });
    // No GPUs: none visible, as on the local machine.
    expect(container.env).toEqual([{ name: "CUDA_VISIBLE_DEVICES", value: "" }]);
    const secret = buildSecret(names, SETTINGS, request().env);
    expect(() => new Secret(secret as ConstructorParameters<typeof Secret>[0]).validate()).not.toThrow();
    expect(secret.stringData).toMatchObject({ MLFLOW_TRACKING_TOKEN: TOKEN, MY_VAR: "x" });
    expect(secret.metadata!.labels).toEqual(names.labels);
  });

  it("a distributed job is an Indexed Job (parallelism = completions = nodes) with torchrun's variables, and a headless Service", () => {
    const req = request({ processes: { nodes: 2, processesPerNode: 1 } });
    const job = buildJob(req, { gpus: [10000, 10001], cpus: 4, memoryMiB: 4096 }, SETTINGS, names, undefined);
    expect(() => validJob(job)).not.toThrow();
    expect(job.spec).toMatchObject({ completionMode: "Indexed", parallelism: 2, completions: 2, backoffLimit: 0 });
    const pod = job.spec!.template.spec!;
    expect(pod.subdomain).toBe(names.job);
    const env = Object.fromEntries(pod.containers[0]!.env!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    expect(env).toMatchObject({
      MASTER_ADDR: `${names.job}-0.${names.job}.ml-jobs.svc`,
      MASTER_PORT: "29500",
      WORLD_SIZE: "2",
      LOCAL_WORLD_SIZE: "1",
      LOCAL_RANK: "0",
      RANK: "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    });
    // One GPU per pod: the job's two split over its two nodes.
    expect(pod.containers[0]!.resources!.limits!["nvidia.com/gpu"]).toBe("1");
    const service = buildService(names, SETTINGS, { uid: "0b6f3c57-3c8e-4a51-9a7c-2f5e0c9d1e11" });
    expect(() => new Service(service as ConstructorParameters<typeof Service>[0]).validate()).not.toThrow();
    expect(service.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true, selector: { "paved.dev/name": names.job } });
    expect(service.metadata!.ownerReferences![0]).toMatchObject({ kind: "Job", name: names.job });
    // Pod hostnames are <job>-<index>: they must stay DNS labels.
    expect(`${names.job}-99999`.length).toBeLessThanOrEqual(63);
  });

  it("with several processes per pod, a fixed wrapper starts each local rank with RANK from the completion index", () => {
    const job = buildJob(request({ processes: { nodes: 2, processesPerNode: 2 } }), { gpus: [], cpus: 4, memoryMiB: 4096 }, SETTINGS, names, undefined);
    expect(() => validJob(job)).not.toThrow();
    expect(job.spec!.template.spec!.containers[0]!.command).toEqual(["/bin/sh", "-c", POD_RANKS_WRAPPER, "paved-ranks", "python", "train.py", "--lr=0.1"]);
    // The wrapper as a pod would run it: node 1 of 2, two local ranks.
    const out = execFileSync("/bin/sh", ["-c", POD_RANKS_WRAPPER, "paved-ranks", "/bin/sh", "-c", 'echo "$RANK $LOCAL_RANK $NODE_RANK"'], {
      env: { PATH: process.env.PATH!, JOB_COMPLETION_INDEX: "1", LOCAL_WORLD_SIZE: "2" },
      encoding: "utf8",
    });
    expect(out.trim().split("\n").sort()).toEqual(["2 0 1", "3 1 1"]);
    // A failing rank fails the pod.
    expect(() => execFileSync("/bin/sh", ["-c", POD_RANKS_WRAPPER, "paved-ranks", "/bin/sh", "-c", 'exit $((3 * LOCAL_RANK))'], { env: { PATH: process.env.PATH!, JOB_COMPLETION_INDEX: "0", LOCAL_WORLD_SIZE: "2" } })).toThrow();
  });

  it("merges a profile's pod spec patch (sidecar, node selector, added tolerations, container tweaks) and still validates", () => {
    const patch = {
      nodeSelector: { "topology.kubernetes.io/zone": "eu-west-1a" },
      tolerations: [{ key: "team-a", operator: "Equal", value: "true", effect: "NoSchedule" }],
      runtimeClassName: "nvidia",
      containers: [
        { name: "job", image: "registry.example/cuda-job:12.4", resources: { limits: { "ephemeral-storage": "20Gi" } }, volumeMounts: [{ name: "dshm", mountPath: "/dev/shm" }] },
        { name: "log-shipper", image: "registry.example/shipper:1" },
      ],
      volumes: [{ name: "dshm", emptyDir: { medium: "Memory" } }],
    };
    expect(podSpecPatchProblems(patch)).toEqual([]);
    expect(podSpecPatchHostAccess(patch)).toEqual([]);
    const job = buildJob(request({ gpuType: "H100", placement: { podSpecPatch: patch, priorityClassName: "urgent" } }), { gpus: [10000], cpus: 2, memoryMiB: 2048 }, SETTINGS, names, "NVIDIA-H100-80GB-HBM3");
    expect(() => validJob(job)).not.toThrow();
    const pod = job.spec!.template.spec!;
    expect(pod.priorityClassName).toBe("urgent");
    expect(pod.nodeSelector).toEqual({ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "topology.kubernetes.io/zone": "eu-west-1a" });
    expect(pod.tolerations).toHaveLength(2);
    expect(pod.containers.map((c) => c.name)).toEqual(["job", "log-shipper"]);
    const container = pod.containers[0]!;
    expect(container.image).toBe("registry.example/cuda-job:12.4");
    expect(container.resources!.limits).toEqual({ memory: "2048Mi", "nvidia.com/gpu": "1", "ephemeral-storage": "20Gi" });
    expect(container.volumeMounts).toEqual([{ name: "dshm", mountPath: "/dev/shm" }]);
    expect(container.envFrom).toEqual([{ secretRef: { name: names.secret } }]);
    expect(pod.volumes!.map((v) => v.name)).toEqual(["paved-data", "dshm"]);
  });

  it("a patch's null removes a field (JSON merge patch)", () => {
    const merged = mergePodSpec({ containers: [{ name: "job" }], priorityClassName: "x", nodeSelector: { a: "1", b: "2" } }, { priorityClassName: null, nodeSelector: { b: null } });
    expect(merged).toEqual({ containers: [{ name: "job" }], nodeSelector: { a: "1" } });
  });

  it("refuses patches of what Paved owns, and names what reaches the host", () => {
    expect(podSpecPatchProblems({ restartPolicy: "Always" })[0]).toContain("restartPolicy");
    expect(podSpecPatchProblems({ containers: [{ name: "job", command: ["sh"] }] })[0]).toContain("containers[0].command");
    expect(podSpecPatchProblems({ containers: [{ name: "job", env: [{ name: "A", value: "b" }] }] })[0]).toContain(".env");
    expect(podSpecPatchProblems({ containers: [{ name: "sidecar" }] })[0]).toContain("needs an image");
    expect(podSpecPatchProblems({ volumes: "x" })[0]).toContain("list of objects");
    const hostile = {
      hostNetwork: true,
      hostPID: true,
      volumes: [{ name: "root", hostPath: { path: "/" } }],
      containers: [{ name: "job", securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN"] } } }],
    };
    expect(podSpecPatchProblems(hostile)).toEqual([]);
    expect(podSpecPatchHostAccess(hostile)).toEqual([
      "hostPath volume 'root' (/)",
      "hostNetwork: true",
      "hostPID: true",
      "privileged container 'job'",
      "container 'job' adds capabilities SYS_ADMIN",
    ]);
  });
});

describe("Kubernetes names: sanitised to RFC 1123, still unique", () => {
  it("leaves a valid name alone and fixes an invalid one with a hash of the original", () => {
    expect(kubernetesName("paved-job-abc-1")).toBe("paved-job-abc-1");
    const fixed = kubernetesName("Paved_Job.ABC/1");
    expect(fixed).toMatch(/^paved-job-abc-1-[0-9a-f]{8}$/);
  });

  it("two raw names that sanitise alike stay different", () => {
    const a = kubernetesName("paved-Job_A-1");
    const b = kubernetesName("paved-job-a-1");
    const c = kubernetesName("paved-JOB.A-1");
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it("truncates long names to the limit, keeping them unique and valid DNS labels", () => {
    const long = (n: number) => `paved-${"x".repeat(80)}-${n}`;
    const a = kubernetesName(long(1), 52);
    const b = kubernetesName(long(2), 52);
    expect(a).not.toBe(b);
    for (const name of [a, b, kubernetesName("123-starts-with-digit"), kubernetesName("---"), kubernetesName("ÄÖÜ émoji 🚀")]) {
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    }
    expect(a.length).toBeLessThanOrEqual(52);
  });

  it("label values keep case and dots, and are fixed (with a hash) only when invalid or too long", () => {
    expect(labelValue("job-01HX7Q")).toBe("job-01HX7Q");
    expect(labelValue("job with spaces")).toMatch(/^job-with-spaces-[0-9a-f]{8}$/);
    const long = labelValue("j".repeat(100));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).not.toBe(labelValue(`${"j".repeat(99)}k`));
  });

  it("an attempt's objects of a job id that is not a valid name validate all the same", () => {
    const n = attemptNames("paved", "Job_ÜBER/lang:" + "z".repeat(70), 3);
    const job = buildJob(request({ jobId: "Job_ÜBER", processes: { nodes: 2, processesPerNode: 1 } }), { gpus: [], cpus: 1, memoryMiB: 256 }, SETTINGS, n, undefined);
    expect(() => validJob(job)).not.toThrow();
    expect(() => new Service(buildService(n, SETTINGS) as ConstructorParameters<typeof Service>[0]).validate()).not.toThrow();
    expect(() => new Secret(buildSecret(n, SETTINGS, { A: "b" }) as ConstructorParameters<typeof Secret>[0]).validate()).not.toThrow();
  });
});

describe("Kubernetes GPU types and capacity from nodes", () => {
  const node = (name: string, opts: { gpus?: number; product?: string; ready?: boolean; unschedulable?: boolean; cpu?: string; memory?: string }): V1Node => ({
    metadata: { name, labels: opts.product ? { "nvidia.com/gpu.product": opts.product } : ({} as Record<string, string>) },
    spec: opts.unschedulable ? { unschedulable: true } : {},
    status: {
      allocatable: { cpu: opts.cpu ?? "8", memory: opts.memory ?? "32Gi", ...(opts.gpus ? { "nvidia.com/gpu": String(opts.gpus) } : {}) },
      conditions: [{ type: "Ready", status: opts.ready === false ? "False" : "True" }],
    },
  });

  it("adds up ready, schedulable nodes; counts all of them as configured; names GPUs by product and mapped type", () => {
    const r = nodeResources(
      [node("gpu-1", { gpus: 4, product: "NVIDIA-H100-80GB-HBM3", cpu: "63900m", memory: "503Gi" }), node("gpu-2", { gpus: 2, product: "NVIDIA-A100-SXM4-40GB", unschedulable: true }), node("cpu-1", { cpu: "7910m", memory: "16284124Ki" })],
      { h100: "NVIDIA-H100-80GB-HBM3" },
    );
    expect(r.gpus).toHaveLength(4);
    expect(r.gpus[0]!.name).toBe("h100 NVIDIA-H100-80GB-HBM3");
    expect(r.cpus).toBeCloseTo(71.81);
    expect(r.configured!.gpus).toHaveLength(6);
    expect(r.gpuTypes).toEqual(["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3", "h100"]);
    expect(r.partitions).toEqual([]);
  });

  it("reads CPU quantities", () => {
    expect(parseCpu("7910m")).toBeCloseTo(7.91);
    expect(parseCpu("16")).toBe(16);
    expect(parseCpu("bad")).toBe(0);
  });
});

describe("compute.kubernetes configuration", () => {
  const parse = (kubernetes: unknown) => configSchema.safeParse({ compute: { executor: "kubernetes", kubernetes } });

  it("needs an image, and fills in the namespace, TTL, instance and rendezvous port", () => {
    expect(parse({}).success).toBe(false);
    const ok = parse({ image: "registry.example/job:1" });
    expect(ok.success).toBe(true);
    expect(ok.data!.compute.kubernetes).toMatchObject({ namespace: "default", ttlSecondsAfterFinished: 86_400, instance: "paved", masterPort: 29500, gpuProducts: {}, tolerations: [], sharedVolumes: [] });
  });

  it("refuses names Kubernetes would refuse, and a shared volume that is not exactly one of claim, NFS or hostPath", () => {
    expect(parse({ image: "x", namespace: "ML_Jobs" }).success).toBe(false);
    expect(parse({ image: "x", kueueQueue: "Team A" }).success).toBe(false);
    expect(parse({ image: "x", gpuProducts: { H100: "NVIDIA H100" } }).success).toBe(false);
    expect(parse({ image: "x", sharedVolumes: [{ name: "data", mountPath: "/srv" }] }).success).toBe(false);
    expect(parse({ image: "x", sharedVolumes: [{ name: "data", mountPath: "/srv", claimName: "data", hostPath: "/srv" }] }).success).toBe(false);
    expect(parse({ image: "x", sharedVolumes: [{ name: "data", mountPath: "/srv", nfs: { server: "nfs.example", path: "/export" } }] }).success).toBe(true);
  });
});
