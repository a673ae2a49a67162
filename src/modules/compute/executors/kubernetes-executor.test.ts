// The Kubernetes executor's client side, tested against a RECORDED API EXCHANGE, NOT A REAL API
// SERVER: test/support/kubernetes-recording.ts replays the request/response pairs of
// test/fixtures/kubernetes/*.json (hand-written in the shape of a real API server's answers) and
// keeps what the executor sent. What a recording cannot show — a program really running in a pod,
// its exit status, its files — is the executor contract suite's, run against a real cluster when
// PAVED_TEST_KUBECONFIG names a kubeconfig (see the last describe block and docs/executors.md).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Job } from "kubernetes-models/batch/v1/Job";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { afterEach, describe, expect, it } from "vitest";
import { freePort, kubeConfigFor, loadRecording, RecordedApiServer } from "../../../../test/support/kubernetes-recording.ts";
import { PlatformError } from "../../../core/index.ts";
import { executorContract } from "./executor.contract.ts";
import type { ExecutionRequest } from "./executor.ts";
import { KubernetesExecutor, loadKubeConfig, type KubernetesHandle } from "./kubernetes-executor.ts";
import type { KubernetesSettings } from "./kubernetes-manifests.ts";

const SETTINGS: KubernetesSettings = {
  namespace: "ml-jobs",
  image: "registry.example/paved-job:py3.12",
  tolerations: [],
  ttlSecondsAfterFinished: 3600,
  sharedVolumes: [],
  instance: "paved",
  masterPort: 29500,
};
const TOKEN = "pvd_recorded-token-0123456789";
const servers: RecordedApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function replay(...names: string[]): Promise<RecordedApiServer> {
  const server = await RecordedApiServer.start(names.map(loadRecording));
  servers.push(server);
  return server;
}
const executorFor = (server: { kubeConfig(): ReturnType<typeof kubeConfigFor> }, extra: { pollMs?: number; gpuProducts?: Record<string, string> } = {}) =>
  new KubernetesExecutor({ kubeConfig: server.kubeConfig(), settings: SETTINGS, pollMs: extra.pollMs ?? 50, requestTimeoutMs: 5000, ...(extra.gpuProducts ? { gpuProducts: extra.gpuProducts } : {}) });
const request = (jobId: string, extra: Partial<ExecutionRequest> = {}): ExecutionRequest => {
  const dir = mkdtempSync(join(tmpdir(), "paved-k8s-"));
  return { jobId, attempt: 1, argv: ["python", "train.py"], workingDir: "/srv/paved/code", env: { PAVED_JOB_ID: jobId, MLFLOW_TRACKING_TOKEN: TOKEN }, jobDir: join(dir, "job"), ...extra };
};
const handleOf = (jobId: string, jobDir: string, pods = 1): KubernetesHandle => ({
  kind: "kubernetes",
  jobId,
  attempt: 1,
  namespace: "ml-jobs",
  name: `paved-${jobId}-1`,
  secret: `paved-${jobId}-1-env`,
  pods,
  logPath: join(jobDir, "attempt-1.log"),
});
const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (error) {
    return error instanceof PlatformError ? error.code : `not a PlatformError: ${String(error)}`;
  }
  return "resolved";
};

describe("Kubernetes executor against a recorded exchange, not a real API server", () => {
  it("submits the Secret then the Job, reports pending with Kubernetes' reason, running, then the exit; copies the log; cleanup deletes the Secret", async () => {
    const server = await replay("nodes", "job-lifecycle");
    const ex = executorFor(server, { gpuProducts: { h100: "NVIDIA-H100-80GB-HBM3" } });
    const req = request("job-01hx7q", { gpuType: "H100" });
    const handle = await ex.submit(req, { gpus: [20000], cpus: 1, memoryMiB: 512 });
    expect(handle).toMatchObject({ kind: "kubernetes", name: "paved-job-01hx7q-1", namespace: "ml-jobs", secret: "paved-job-01hx7q-1-env" });
    // What reached the API server: a valid Secret with the token, a valid Job without it.
    const [secretPost] = server.requests("POST", "/api/v1/namespaces/ml-jobs/secrets");
    const [jobPost] = server.requests("POST", "/apis/batch/v1/namespaces/ml-jobs/jobs");
    expect(() => new Secret(secretPost!.body as ConstructorParameters<typeof Secret>[0]).validate()).not.toThrow();
    expect(() => new Job(jobPost!.body as ConstructorParameters<typeof Job>[0]).validate()).not.toThrow();
    expect((secretPost!.body as { stringData: Record<string, string> }).stringData.MLFLOW_TRACKING_TOKEN).toBe(TOKEN);
    expect(JSON.stringify(jobPost!.body)).not.toContain(TOKEN);
    expect(JSON.stringify(handle)).not.toContain(TOKEN);
    // The gpuType mapped to the product label of the cluster's nodes.
    expect((jobPost!.body as { spec: { template: { spec: { nodeSelector: unknown } } } }).spec.template.spec.nodeSelector).toEqual({ "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3" });
    const pending = await ex.observe(handle);
    expect(pending.state).toBe("pending");
    expect(pending.state === "pending" && pending.reason).toContain("Insufficient nvidia.com/gpu");
    expect(await ex.observe(handle)).toEqual({ state: "running" });
    expect(await ex.observe(handle)).toEqual({ state: "exited", exitCode: 0 });
    expect(readFileSync(handle.logPath, "utf8")).toBe("epoch 1 loss 0.71\nepoch 2 loss 0.43\n");
    await ex.cleanup(handle);
    expect(server.requests("DELETE", "/api/v1/namespaces/ml-jobs/secrets/paved-job-01hx7q-1-env")).toHaveLength(1);
    expect(server.unmatched).toEqual([]);
  });

  it("reports a rank's non-zero exit code, and a pod preempted by the scheduler as preempted", async () => {
    const server = await replay("job-endings");
    const ex = executorFor(server);
    const dir = mkdtempSync(join(tmpdir(), "paved-k8s-"));
    const failed = handleOf("job-fail", dir);
    expect(await ex.observe(failed)).toEqual({ state: "exited", exitCode: 3 });
    expect(readFileSync(failed.logPath, "utf8")).toContain("ValueError: boom");
    const preempted = handleOf("job-preempted", mkdtempSync(join(tmpdir(), "paved-k8s-")));
    expect(await ex.observe(preempted)).toEqual({ state: "exited", exitCode: 143, preempted: true });
    expect(server.unmatched).toEqual([]);
  });

  it("cancel deletes the Job with foreground propagation and resolves once Kubernetes no longer has it", async () => {
    const server = await replay("cancel");
    const ex = executorFor(server);
    const handle = handleOf("job-cancel", mkdtempSync(join(tmpdir(), "paved-k8s-")));
    await ex.cancel(handle);
    const deletes = server.requests("DELETE", "/apis/batch/v1/namespaces/ml-jobs/jobs/paved-job-cancel-1");
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.query.propagationPolicy).toBe("Foreground");
    // It waited for the Job to be gone: read until the 404.
    expect(server.requests("GET", "/apis/batch/v1/namespaces/ml-jobs/jobs/paved-job-cancel-1").length).toBeGreaterThanOrEqual(3);
    expect((await ex.observe(handle)).state).toBe("vanished");
    expect(readFileSync(handle.logPath, "utf8")).toBe("step 1\nstep 2\n");
    expect(server.unmatched).toEqual([]);
  });

  it("a restarted Paved finds an attempt by its owner labels, and only that attempt", async () => {
    const server = await replay("recover");
    const restarted = executorFor(server);
    const found = await restarted.recover({ jobId: "job-adopt", attempt: 1, jobDir: "/srv/paved/jobs/job-adopt" });
    expect(found).toMatchObject({ name: "paved-job-adopt-1", pods: 1 });
    expect(await restarted.recover({ jobId: "job-adopt", attempt: 2, jobDir: "/srv/paved/jobs/job-adopt" })).toBeUndefined();
    // The handle as saved in the database (JSON) works as well.
    expect(await restarted.observe(JSON.parse(JSON.stringify(found)) as KubernetesHandle)).toEqual({ state: "running" });
    expect(server.unmatched).toEqual([]);
  });

  it("follows a running pod's log until the container ends, from a byte offset", async () => {
    const server = await replay("logs-follow");
    const ex = executorFor(server);
    const handle = handleOf("job-follow", mkdtempSync(join(tmpdir(), "paved-k8s-")));
    let text = "";
    for await (const chunk of ex.logs(handle, { follow: true })) text += chunk;
    expect(text).toBe("line 0\nline 1\nline 2\n");
    let rest = "";
    for await (const chunk of ex.logs(handle, { follow: true, offset: 7 })) rest += chunk;
    expect(rest).toBe("line 1\nline 2\n");
    expect(server.requests("GET", "/api/v1/namespaces/ml-jobs/pods/paved-job-follow-1-p0o9i/log")[0]!.query).toMatchObject({ follow: "true", container: "job" });
    expect(server.unmatched).toEqual([]);
  });

  it("reads what was copied of the log when the pod is gone before its log could be streamed", async () => {
    const server = await replay("log-gone");
    const ex = executorFor(server);
    const dir = mkdtempSync(join(tmpdir(), "paved-k8s-"));
    const handle = handleOf("job-gone", dir);
    writeFileSync(handle.logPath, "copied while it ran\n");
    let text = "";
    for await (const chunk of ex.logs(handle, { follow: false, offset: 7 })) text += chunk;
    expect(text).toBe("while it ran\n");
    expect(server.requests("GET", "/api/v1/namespaces/ml-jobs/pods/paved-job-gone-1-h8j9k/log")).toHaveLength(1);
    expect(server.unmatched).toEqual([]);
  });

  it("waits for the end by watching the pods: a watch event wakes it long before its poll interval, with the log followed into the attempt's file", async () => {
    const server = await replay("watch");
    const ex = executorFor(server, { pollMs: 60_000 });
    const handle = handleOf("job-watch", mkdtempSync(join(tmpdir(), "paved-k8s-")));
    const started = Date.now();
    await ex.waitForExit(handle, AbortSignal.timeout(20_000));
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await ex.observe(handle)).toEqual({ state: "exited", exitCode: 0 });
    expect(readFileSync(handle.logPath, "utf8")).toBe("training\ndone\n");
    const watches = server.received.filter((r) => r.path === "/api/v1/namespaces/ml-jobs/pods" && r.query.watch === "true");
    expect(watches[0]!.query.labelSelector).toBe("paved.dev/instance=paved,paved.dev/name=paved-job-watch-1");
    expect(server.unmatched).toEqual([]);
  });

  it("reads capacity from the nodes' allocatable GPUs and product labels, and refuses a GPU type the cluster lacks, naming those it has", async () => {
    const server = await replay("nodes");
    const ex = executorFor(server);
    const r = await ex.resources();
    // gpu-node-2 is cordoned and gpu-node-3 not ready: only gpu-node-1's GPUs are up; all four nodes are configured.
    expect(r.gpus).toHaveLength(4);
    expect(r.configured!.gpus).toHaveLength(10);
    expect(r.cpus).toBeCloseTo(63.9 + 7.91);
    expect(r.gpuTypes).toEqual(["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"]);
    const refused = ex.submit(request("job-b200", { gpuType: "B200" }), { gpus: [20000], cpus: 1, memoryMiB: 512 });
    await expect(refused).rejects.toMatchObject({ code: "INVALID_INPUT", details: { gpuTypes: ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"] } });
    expect(server.requests("POST", "/")).toEqual([]);
  });

  it("submits a distributed attempt as an Indexed Job and a headless Service owned by it; cleanup deletes the Secret and the Service", async () => {
    const server = await replay("ddp-submit");
    const ex = executorFor(server);
    const handle = await ex.submit(request("job-ddp", { processes: { nodes: 2, processesPerNode: 1 } }), { gpus: [20000, 20001], cpus: 4, memoryMiB: 4096 });
    expect(handle.pods).toBe(2);
    const job = server.requests("POST", "/apis/batch/v1/namespaces/ml-jobs/jobs")[0]!.body as ConstructorParameters<typeof Job>[0];
    const service = server.requests("POST", "/api/v1/namespaces/ml-jobs/services")[0]!.body as ConstructorParameters<typeof Service>[0];
    expect(() => new Job(job).validate()).not.toThrow();
    expect(() => new Service(service).validate()).not.toThrow();
    expect(job!.spec).toMatchObject({ completionMode: "Indexed", parallelism: 2, completions: 2 });
    // Owned by the Job (its uid from the API server's answer): deleted with it.
    expect(service!.metadata!.ownerReferences![0]).toMatchObject({ kind: "Job", name: "paved-job-ddp-1", uid: "d7b5e9fb-8cad-4bcd-a46f-708192a3b4c5" });
    await ex.cleanup(handle);
    expect(server.requests("DELETE", "/api/v1/namespaces/ml-jobs/services/paved-job-ddp-1")).toHaveLength(1);
    expect(server.unmatched).toEqual([]);
  });

  it("tells the API server's answers apart: invalid is INVALID_INPUT, forbidden (RBAC) is UNAVAILABLE, already existing is adopted", async () => {
    const server = await replay("api-answers");
    const ex = executorFor(server);
    expect(await codeOf(ex.submit(request("job-bad"), { gpus: [], cpus: 1, memoryMiB: 512 }))).toBe("INVALID_INPUT");
    const rbac = ex.submit(request("job-rbac"), { gpus: [], cpus: 1, memoryMiB: 512 });
    await expect(rbac).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(rbac).rejects.toThrow(/docs\/executors.md#rbac/);
    // A submit whose answer was lost: the Secret replaced (the new token), the Job found and adopted, not created twice.
    const again = await ex.submit(request("job-again"), { gpus: [], cpus: 1, memoryMiB: 512 });
    expect(again.name).toBe("paved-job-again-1");
    expect(server.requests("PUT", "/api/v1/namespaces/ml-jobs/secrets/paved-job-again-1-env")).toHaveLength(1);
    expect(server.unmatched).toEqual([]);
  });
});

describe("Kubernetes executor with the API server down (nothing listening)", () => {
  it("is UNAVAILABLE for submit, observe, recover and resources, naming the API server", async () => {
    const port = await freePort();
    const ex = new KubernetesExecutor({ kubeConfig: kubeConfigFor(`http://127.0.0.1:${port}`), settings: SETTINGS, requestTimeoutMs: 5000 });
    const dir = mkdtempSync(join(tmpdir(), "paved-k8s-"));
    const submit = ex.submit(request("job-down"), { gpus: [], cpus: 1, memoryMiB: 512 });
    await expect(submit).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(submit).rejects.toThrow(`127.0.0.1:${port}`);
    expect(await codeOf(ex.observe(handleOf("job-down", dir)))).toBe("UNAVAILABLE");
    expect(await codeOf(ex.recover({ jobId: "job-down", attempt: 1, jobDir: dir }))).toBe("UNAVAILABLE");
    expect(await codeOf(ex.resources())).toBe("UNAVAILABLE");
  });

  it("a kubeconfig that cannot be read is a configuration error naming the file", () => {
    expect(() => loadKubeConfig({ kubeconfig: "/nonexistent/kubeconfig" })).toThrow(/compute.kubernetes.*\/nonexistent\/kubeconfig/);
  });
});

// The executor contract against a real cluster. It needs: a kubeconfig (PAVED_TEST_KUBECONFIG) whose
// user holds the Role of docs/executors.md in PAVED_TEST_K8S_NAMESPACE (default `default`); an image
// (PAVED_TEST_K8S_IMAGE, default node:20-bookworm) with node at this test's process.execPath; and the
// test's temporary folders on the nodes at the same path (PAVED_TEST_K8S_SHARED_DIR, default /tmp, as a
// hostPath volume: a single-node kind cluster with that folder in extraMounts).
const realCluster = process.env.PAVED_TEST_KUBECONFIG;
describe.skipIf(!realCluster)(
  `executor contract: kubernetes against a real cluster${realCluster ? "" : " (skipped: PAVED_TEST_KUBECONFIG is not set; no Kubernetes API server can run on this machine, so the contract runs only where a cluster is given — see docs/executors.md#testing-against-a-real-cluster)"}`,
  () => {
    const shared = process.env.PAVED_TEST_K8S_SHARED_DIR ?? "/tmp";
    const make = () =>
      new KubernetesExecutor({
        kubeConfig: loadKubeConfig({ kubeconfig: realCluster! }),
        settings: {
          ...SETTINGS,
          namespace: process.env.PAVED_TEST_K8S_NAMESPACE ?? "default",
          image: process.env.PAVED_TEST_K8S_IMAGE ?? "node:20-bookworm",
          imagePullPolicy: "IfNotPresent",
          sharedVolumes: [{ name: "shared", mountPath: shared, hostPath: shared }],
          instance: `paved-test-${process.pid}`,
          terminationGracePeriodSeconds: 2,
        },
        pollMs: 500,
      });
    executorContract("kubernetes (a real cluster)", () => ({ executor: make(), gpus: [], pinsIndices: false, restarted: make, processesVisible: false }));
  },
);
