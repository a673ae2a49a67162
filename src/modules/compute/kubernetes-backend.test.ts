// Jobs on the Kubernetes backend through Paved's scheduler and controller, the API server being a
// RECORDED EXCHANGE, NOT A REAL API SERVER (test/support/kubernetes-recording.ts replaying
// test/fixtures/kubernetes/nodes.json and controller-flow.json). First nothing listens on the
// kubeconfig's address (the API server is down): the job stays queued with the reason. Then the
// recording answers there: its first Job create is refused with 503, so the same attempt is queued
// again (no retry spent) and submitted once more after backoff; then it runs, completes, and the
// Secret holding its token is deleted. One Job created, none lost, none twice. Then `paved
// resources` shows the cluster from its nodes, and a GPU type no backend has is refused at submit.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TEST_ADMIN_TOKEN, createComputeTestServer } from "../../../test/support/compute-server.ts";
import { freePort, loadRecording, RecordedApiServer } from "../../../test/support/kubernetes-recording.ts";

describe("jobs on Kubernetes through the controller, against a recorded exchange, not a real API server", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("an API server that is down keeps the job queued with the reason; once it answers, the attempt is submitted (again after a 503, with backoff, no retry spent) and runs to the end", async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "paved-k8s-flow-"));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        // Plain HTTP on loopback: the client takes it only with TLS verification off.
        `- name: recorded\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true`,
        "users:",
        "- name: paved\n  user:\n    token: recorded-exchange-token",
        "contexts:",
        "- name: recorded\n  context:\n    cluster: recorded\n    user: paved\n    namespace: ml-jobs",
        "current-context: recorded",
        "",
      ].join("\n"),
    );
    const env = await createComputeTestServer({
      gpus: [],
      cpus: 2,
      memoryMiB: 2048,
      executor: "kubernetes",
      kubernetes: { kubeconfig, namespace: "ml-jobs", image: "registry.example/paved-job:py3.12", pollSeconds: 0.1, maxRetrySeconds: 1 },
    });
    cleanups.push(env.close);
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    const get = async (id: string) => (await env.server.inject({ method: "GET", url: `/api/v1/jobs/${id}`, headers: auth })).json();
    const created = await env.server.inject({
      method: "POST",
      url: "/api/v1/jobs",
      headers: auth,
      payload: { kind: "Job", name: "on-kubernetes", workingDir: dir, command: ["python", "train.py"], compute: { profile: "cpu" }, hyperparameterArgs: false },
    });
    expect(created.statusCode).toBe(200);
    const id = created.json().id as string;
    // Nothing listens: queued, with the reason naming the API server.
    let job = await get(id);
    for (let i = 0; i < 100 && !job.pending; i++) {
      await new Promise((r) => setTimeout(r, 50));
      job = await get(id);
    }
    expect(job.phase).toBe("QUEUED");
    expect(job.pending.reason).toContain(`the Kubernetes API server at http://127.0.0.1:${port} is unavailable`);
    expect(job.pending.reason).toContain("ECONNREFUSED");
    expect(job.pending.reason).toContain("the job waits and Paved tries again");

    const server = await RecordedApiServer.start([loadRecording("nodes"), loadRecording("controller-flow")], port);
    cleanups.push(() => server.close());
    for (let i = 0; i < 600 && !["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase); i++) {
      await new Promise((r) => setTimeout(r, 50));
      job = await get(id);
    }
    if (job.phase !== "SUCCEEDED") console.log(JSON.stringify({ pending: job.pending, events: job.events, received: server.received.map((r) => `${r.method} ${r.path}`), unmatched: server.unmatched }, null, 1));
    expect(job.phase).toBe("SUCCEEDED");
    expect(job.attempt).toBe(1);
    const types = (job.events as { type: string; message: string }[]).map((e) => e.type);
    expect(types).toContain("BackendUnavailable");
    expect(types).toContain("BackendSubmitted");
    expect((job.events as { type: string; message: string }[]).find((e) => e.type === "BackendUnavailable")!.message).toContain("HTTP 503");
    // Submitted twice (the first refused), created once; the Secret replaced on the second try, deleted at the end.
    const jobPosts = server.requests("POST", "/apis/batch/v1/namespaces/ml-jobs/jobs");
    expect(jobPosts).toHaveLength(2);
    expect(server.requests("PUT", "/api/v1/namespaces/ml-jobs/secrets/")).toHaveLength(1);
    expect(server.requests("DELETE", "/api/v1/namespaces/ml-jobs/secrets/")).toHaveLength(1);
    // The token the job ran with was in the Secret only.
    const secret = server.requests("PUT", "/api/v1/namespaces/ml-jobs/secrets/")[0]!.body as { stringData: Record<string, string> };
    expect(secret.stringData.MLFLOW_TRACKING_TOKEN).toMatch(/^pvd_/);
    expect(JSON.stringify(jobPosts[1]!.body)).not.toContain(secret.stringData.MLFLOW_TRACKING_TOKEN);
    const logs = await env.server.inject({ method: "GET", url: `/api/v1/jobs/${id}/logs`, headers: auth });
    expect(logs.body).toBe("hello from a pod\n");

    // `paved resources`: the cluster's capacity from its nodes, its GPU types.
    const resources = (await env.server.inject({ method: "GET", url: "/api/v1/compute/resources", headers: auth })).json();
    const k8s = (resources.backends as { name: string; available: boolean; gpuTypes: string[]; total: { gpus: number } }[]).find((b) => b.name === "kubernetes")!;
    expect(k8s).toMatchObject({ available: true, gpuTypes: ["NVIDIA-A100-SXM4-40GB", "NVIDIA-H100-80GB-HBM3"] });
    expect(k8s.total.gpus).toBe(4);
    // A GPU type no backend has is refused at submit, naming those that exist; nothing reaches the cluster.
    const posts = server.received.length;
    const b200 = await env.server.inject({ method: "POST", url: "/api/v1/jobs", headers: auth, payload: { kind: "Job", name: "b200", workingDir: dir, command: ["python", "train.py"], compute: { gpus: 1, gpuType: "B200" } } });
    expect(b200.statusCode).toBe(400);
    expect(b200.json().error.code).toBe("INVALID_INPUT");
    expect(b200.json().error.message).toContain("NVIDIA-H100-80GB-HBM3");
    expect(server.received.slice(posts).filter((r) => r.method === "POST")).toEqual([]);
    expect(server.unmatched).toEqual([]);
  }, 60_000);
});
