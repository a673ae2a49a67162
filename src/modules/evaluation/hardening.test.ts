// Regression tests of issue 7's evaluation findings, against a real server (in process), real
// ONNX models and real CSVs: (2) evaluation reads only files the platform stores and never shows
// a file in an error; (5) a policy that checks nothing is refused and every policy change is
// recorded; (8) the latest finished evaluation under the current policy decides the gate; (14)
// features are matched by name and the result says which reference was used.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp, type App } from "../../app.ts";
import { loadConfig } from "../../config/index.ts";

const POLICY = `
checks:
  - {type: quality, metric: accuracy, min: 0.8}
  - {type: drift, maxPsi: 0.25, maxKsStatistic: 0.3}
`;
const MAX_DATA_BYTES = 150_000;
type Evaluation = {
  id: string;
  phase: string;
  passed: boolean;
  message: string | null;
  referencePath: string | null;
  referenceOrigin: string | null;
  referenceNote: string | null;
  features: { matchedBy: string; from: string; names: string[] } | null;
  checks: { name: string; passed: boolean; figures: Record<string, number | null>; hint: string | null }[];
};

describe("evaluation hardening (issue 7: items 2, 5, 8, 14)", () => {
  let app: App;
  let auth: Record<string, string>;
  const data = mkdtempSync(join(tmpdir(), "paved-eval-hardening-"));
  const api = "/api/2.0/mlflow";

  const call = (method: "GET" | "POST" | "PUT", url: string, payload?: unknown) =>
    app.server.inject({ method, url, headers: auth, ...(payload !== undefined ? { payload: payload as object } : {}) });
  const putArtifact = async (runId: string, path: string, bytes: Buffer | string) => {
    const response = await app.server.inject({ method: "PUT", url: `/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/${path}`, headers: { ...auth, "content-type": "application/octet-stream" }, payload: bytes });
    expect(response.statusCode, response.body).toBe(200);
  };
  const upload = (bytes: Buffer | string) => app.server.inject({ method: "POST", url: "/api/v1/evaluation-data", headers: { ...auth, "content-type": "text/csv" }, payload: bytes });
  async function uploaded(bytes: Buffer | string): Promise<string> {
    const response = await upload(bytes);
    expect(response.statusCode, response.body).toBe(200);
    return response.json().uri;
  }
  const file = (name: string) => readFileSync(join(data, name));

  /** Registers good.onnx (or bad.onnx) from a new run whose dataset input is `source` (a function of the run id), with a model card. */
  async function register(name: string, opts: { onnx?: string; source?: ((runId: string) => string) | null; artifacts?: Record<string, Buffer | string>; policy?: string; tags?: Record<string, string> } = {}) {
    const run = (await call("POST", `${api}/runs/create`, { experiment_id: "0", start_time: 1 })).json().run.info;
    await putArtifact(run.run_id, "model/model.onnx", file(opts.onnx ?? "good.onnx"));
    for (const [path, bytes] of Object.entries(opts.artifacts ?? { "data/train.csv": file("train.csv") })) await putArtifact(run.run_id, path, bytes);
    const source = opts.source === undefined ? (id: string) => `runs:/${id}/data/train.csv` : opts.source;
    if (source) await call("POST", `${api}/runs/log-inputs`, { run_id: run.run_id, datasets: [{ dataset: { name: "train", digest: "d1", source_type: "local", source: source(run.run_id) } }] });
    const version = await call("POST", `/api/v1/models/${name}/versions`, { source: `runs:/${run.run_id}/model` });
    expect(version.statusCode, version.body).toBe(200);
    for (const [key, value] of Object.entries(opts.tags ?? {})) await call("POST", `${api}/registered-models/set-tag`, { name, key, value });
    if (opts.policy !== undefined) expect((await call("PUT", `/api/v1/models/${name}/gate-policy`, { yaml: opts.policy })).statusCode).toBe(200);
    return { version: String(version.json().version), runId: run.run_id as string };
  }
  const evaluate = (name: string, version: string, body: Record<string, unknown>) => call("POST", `/api/v1/models/${name}/versions/${version}/evaluations`, { sensitive: ["group"], ...body });
  async function finished(id: string): Promise<Evaluation> {
    for (let i = 0; i < 600; i++) {
      const evaluation = (await call("GET", `/api/v1/evaluations/${id}`)).json();
      if (!["Pending", "Running"].includes(evaluation.phase)) return evaluation;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`evaluation ${id} did not finish`);
  }
  async function evaluated(name: string, version: string, body: Record<string, unknown>): Promise<Evaluation> {
    const response = await evaluate(name, version, body);
    expect(response.statusCode, response.body).toBe(200);
    return finished(response.json().id);
  }
  const accuracy = (e: Evaluation) => e.checks.find((c) => c.name === "quality:accuracy")!.figures.value;
  /** The CSV with its feature columns in reverse order (f2, f1, f0, label, group). */
  const reversed = (csv: Buffer) =>
    csv
      .toString("utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [f0, f1, f2, ...rest] = line.split(",");
        return [f2, f1, f0, ...rest].join(",");
      })
      .join("\n") + "\n";

  beforeAll(async () => {
    execFileSync("/usr/bin/python3", [new URL("./test-data.py", import.meta.url).pathname, data], { stdio: ["ignore", "ignore", "pipe"] });
    const dataDir = mkdtempSync(join(tmpdir(), "paved-eval-hardening-server-"));
    app = await createApp(loadConfig({ env: {}, overrides: { dataDir, logLevel: "silent", compute: { gpus: [] }, host: "127.0.0.1", port: 0, evaluation: { maxDataBytes: MAX_DATA_BYTES } } }));
    await app.listen();
    auth = { authorization: `Bearer ${app.generatedAdminToken}` };
  }, 120_000);
  afterAll(async () => app?.close());

  describe("item 2: evaluation data comes only from the platform's stores", () => {
    it("refuses server paths and file:// URIs with INVALID_INPUT, whether or not they exist, and never answers with a file", async () => {
      const { version } = await register("paths", { policy: POLICY });
      const environ = readFileSync("/proc/self/environ", "utf8").split("\0")[0]!;
      const passwd = readFileSync("/etc/passwd", "utf8").split("\n")[0]!;
      const good = await uploaded(file("eval.csv"));
      for (const path of ["/proc/self/environ", "/etc/passwd", "/no/such/dir/eval.csv", "file:///etc/passwd", "file:///proc/self/environ", "file://localhost/etc/passwd"]) {
        for (const body of [{ data: path }, { data: good, reference: path }]) {
          const response = await evaluate("paths", version, body);
          expect(response.json().error.code, `${JSON.stringify(body)}: ${response.body}`).toBe("INVALID_INPUT");
          expect(response.body).not.toContain(environ.slice(0, 20));
          expect(response.body).not.toContain(passwd.slice(0, 10));
        }
      }
      // No existence oracle: an existing and a missing server path get the same answer.
      const answer = async (path: string) => (await evaluate("paths", version, { data: path })).json().error.message.replaceAll(path, "<path>");
      expect(await answer("/etc/hostname")).toBe(await answer("/etc/no-such-file-here"));
      expect((await call("GET", "/api/v1/evaluations?model=paths")).json().evaluations).toEqual([]);
    }, 60_000);

    it("never uses a lineage dataset that names a server path as the reference, and says how to give one", async () => {
      // What the quickstart records: the absolute path of the CSV it read (here one that exists).
      const { version } = await register("lineage-path", { source: () => join(data, "train.csv"), policy: POLICY });
      const evaluation = await evaluated("lineage-path", version, { data: await uploaded(file("eval.csv")) });
      expect(evaluation.referencePath).toBeNull();
      expect(evaluation.referenceNote).toContain(join(data, "train.csv"));
      expect(evaluation.referenceNote).toContain("--reference");
      const drift = evaluation.checks.find((c) => c.name === "drift")!;
      expect(drift.passed).toBe(false);
      expect(drift.hint).toContain("--reference");
      // /etc/passwd as a lineage source is skipped just the same, and never read.
      const secret = await register("lineage-passwd", { source: () => "/etc/passwd", policy: POLICY });
      const passwd = await evaluated("lineage-passwd", secret.version, { data: await uploaded(file("eval.csv")) });
      expect(JSON.stringify(passwd)).not.toContain(readFileSync("/etc/passwd", "utf8").split("\n")[0]!.slice(0, 10));
      expect(passwd.referencePath).toBeNull();
    }, 60_000);

    it("never echoes a CSV's records: a garbage first record is refused, a later one puts the evaluation in Error, neither quoting it", async () => {
      const { version } = await register("garbage", { policy: POLICY });
      const secret = "PAVED_ADMIN_TOKEN=pvd_0123456789abcdef";
      const first = await evaluate("garbage", version, { data: await uploaded(`f0,f1,f2,label,group\n${secret},1,2,0,A\n`) });
      expect(first.json().error.code).toBe("INVALID_INPUT");
      expect(first.body).not.toContain("pvd_0123");
      const rows = file("eval.csv").toString("utf8").trim().split("\n");
      const later = await evaluated("garbage", version, { data: await uploaded([...rows.slice(0, 5), `0.1,${secret},0.3,1,A`, ...rows.slice(5)].join("\n")) });
      expect(later.phase).toBe("Error");
      expect(later.message).toContain("line 6");
      expect(later.message).not.toContain("pvd_0123");
    }, 60_000);

    it("evaluates an uploaded CSV, a run artifact (runs:/, mlflow-artifacts:/), a version's file (models:/) and refuses what the platform does not hold", async () => {
      const { version, runId } = await register("sources", { policy: POLICY, artifacts: { "data/train.csv": file("train.csv"), "outputs/eval.csv": file("eval.csv"), "model/holdout.csv": file("eval.csv") } });
      const fromUpload = await evaluated("sources", version, { data: await uploaded(file("eval.csv")) });
      const fromRun = await evaluated("sources", version, { data: `runs:/${runId}/outputs/eval.csv`, reference: `runs:/${runId}/data/train.csv` });
      const fromProxy = await evaluated("sources", version, { data: `mlflow-artifacts:/0/${runId}/artifacts/outputs/eval.csv` });
      const fromVersion = await evaluated("sources", version, { data: `models:/sources/${version}/holdout.csv` });
      for (const evaluation of [fromUpload, fromRun, fromProxy, fromVersion]) expect(evaluation.phase, JSON.stringify(evaluation)).toBe("Passed");
      expect(fromRun.referenceOrigin).toBe("explicit");
      expect(fromUpload.referenceOrigin).toBe(`lineage dataset 'train' of run ${runId}`);
      expect(accuracy(fromRun)).toBe(accuracy(fromUpload));
      // Present only in the platform: a run's missing file, an unknown upload, a path out of a run.
      expect((await evaluate("sources", version, { data: `runs:/${runId}/outputs/missing.csv` })).json().error.code).toBe("NOT_FOUND");
      expect((await evaluate("sources", version, { data: `uploads:/${"0".repeat(64)}` })).json().error.code).toBe("NOT_FOUND");
      expect((await evaluate("sources", version, { data: `models:/sources/${version}/nope.csv` })).json().error.code).toBe("NOT_FOUND");
      expect((await evaluate("sources", version, { data: "datasets:/churn@3" })).json().error.code).toBe("NOT_FOUND");
      expect((await evaluate("sources", version, { data: `runs:/${runId}/../../etc/passwd` })).json().error.code).toBe("INVALID_INPUT");
      expect((await evaluate("sources", version, { data: "https://example.com/eval.csv" })).json().error.code).toBe("INVALID_INPUT");
    }, 120_000);

    it("bounds uploads by evaluation.maxDataBytes", async () => {
      const response = await upload(Buffer.alloc(MAX_DATA_BYTES + 1, "1"));
      expect(response.json().error.code).toBe("PAYLOAD_TOO_LARGE");
      const same = await upload(file("eval.csv"));
      expect(same.json()).toEqual({ uri: expect.stringMatching(/^uploads:\/[0-9a-f]{64}$/), digest: expect.stringMatching(/^sha256:/), size: file("eval.csv").length, team: "default" });
    });
  });

  describe("item 5: a policy that checks nothing never passes, and every change is recorded", () => {
    it("refuses a policy whose checks bound nothing, and records who changed the policy, when, from what", async () => {
      const { version } = await register("policed");
      const empty = await call("PUT", "/api/v1/models/policed/gate-policy", { policy: { checks: [{ type: "compliance" }] } });
      expect(empty.json().error.code).toBe("INVALID_INPUT");
      expect((await call("GET", "/api/v1/models/policed/gate-policy")).json().source).toBe("default");
      const defaultVersion = (await call("GET", "/api/v1/models/policed/gate-policy")).json().version;
      const first = (await call("PUT", "/api/v1/models/policed/gate-policy", { yaml: POLICY })).json();
      const second = (await call("PUT", "/api/v1/models/policed/gate-policy", { yaml: POLICY.replace("min: 0.8", "min: 0.85") })).json();
      const { changes } = (await call("GET", "/api/v1/models/policed/gate-policy/history")).json();
      expect(changes).toEqual([
        expect.objectContaining({ version: second.version, user: "admin", previous: expect.objectContaining({ version: first.version, source: "model" }), createdAt: expect.any(Number) }),
        expect.objectContaining({ version: first.version, user: "admin", previous: expect.objectContaining({ version: defaultVersion, source: "default" }) }),
      ]);
      expect(changes[0].policy.checks[0].min).toBe(0.85);
      expect(changes[0].previous.policy.checks[0].min).toBe(0.8);
      expect(version).toBe("1");
    });

    it("never passes under a stored policy that yields no check results: refused up front, Error in the runner, production refused", async () => {
      const { version } = await register("hollow");
      // A policy stored before such policies were refused.
      const hollow = { checks: [{ type: "compliance", requiredModelCardFields: [], requireLineage: false, forbidSensitiveFeatures: false }] };
      const model = (await call("GET", "/api/v1/models/hollow")).json();
      const modelId = (await app.database.db.selectFrom("registered_models").select("model_id").where("name", "=", model.name).executeTakeFirstOrThrow()).model_id;
      await app.database.db.insertInto("gate_policies").values({ model_id: modelId, policy: JSON.stringify(hollow), policy_version: "hollow000000", updated_by: "admin", updated_at: 1 }).execute();
      const uri = await uploaded(file("eval.csv"));
      expect((await evaluate("hollow", version, { data: uri })).json().error.code).toBe("INVALID_INPUT");
      // One that got stored anyway (accepted before the fix): the runner finds no check results.
      const digest = uri.slice("uploads:/".length);
      await app.database.db
        .insertInto("evaluations")
        .values({
          id: "eval-hollow",
          model_id: modelId,
          model_name: "hollow",
          version: Number(version),
          policy_version: "hollow000000",
          data_path: join(data, "eval.csv"),
          data_digest: "",
          reference_path: null,
          passed: 0,
          checks: "[]",
          user_id: "admin",
          started_at: 1,
          finished_at: 0,
          phase: "Pending",
          request: JSON.stringify({ label: "label", sensitive: ["group"], policy: hollow, data: { uri, digest, size: file("eval.csv").length } }),
          message: null,
          created_at: 1,
          team_id: "default",
        })
        .execute();
      const evaluation = await finished("eval-hollow");
      expect(evaluation.phase).toBe("Error");
      expect(evaluation.passed).toBe(false);
      // Even a Passed row with no results (as the bug stored them) does not open the gate.
      await app.database.db.updateTable("evaluations").set({ phase: "Passed", passed: 1, finished_at: 2 }).where("id", "=", "eval-hollow").execute();
      expect((await call("PUT", "/api/v1/models/hollow/aliases/production", { version })).json().error.code).toBe("GATE_FAILED");
      expect((await call("GET", "/api/v1/models/hollow")).json().aliases).toEqual({});
    }, 60_000);
  });

  describe("item 8: the latest finished evaluation under the current policy decides", () => {
    it("refuses production after a later failing evaluation, names it, and lets a later pass through again", async () => {
      const { version } = await register("latest", { policy: POLICY });
      const pass = await evaluated("latest", version, { data: await uploaded(file("eval.csv")) });
      expect(pass.phase).toBe("Passed");
      const fail = await evaluated("latest", version, { data: await uploaded(file("shifted.csv")) });
      expect(fail.phase).toBe("Failed");
      const refused = (await call("PUT", "/api/v1/models/latest/aliases/production", { version })).json().error;
      expect(refused).toMatchObject({ code: "GATE_FAILED", details: { evaluation: fail.id } });
      expect(refused.message).toContain(fail.id);
      expect((await call("GET", "/api/v1/models/latest/gate-status")).json().versions).toEqual([expect.objectContaining({ version, gate: "failed", evaluation: fail.id })]);
      const again = await evaluated("latest", version, { data: await uploaded(file("eval.csv")) });
      expect((await call("GET", "/api/v1/models/latest/gate-status")).json().versions).toEqual([expect.objectContaining({ gate: "passed", evaluation: again.id })]);
      expect((await call("PUT", "/api/v1/models/latest/aliases/production", { version })).statusCode).toBe(200);
    }, 120_000);

    it("does not count a pass under an older policy", async () => {
      const { version } = await register("repoliced", { policy: POLICY });
      expect((await evaluated("repoliced", version, { data: await uploaded(file("eval.csv")) })).phase).toBe("Passed");
      expect((await call("PUT", "/api/v1/models/repoliced/gate-policy", { yaml: POLICY.replace("min: 0.8", "min: 0.7") })).statusCode).toBe(200);
      expect((await call("PUT", "/api/v1/models/repoliced/aliases/production", { version })).json().error.code).toBe("GATE_FAILED");
    }, 60_000);
  });

  describe("item 14: features matched by name, and the reference named", () => {
    it("gives reversed columns the same accuracy as the original order (names from the lineage reference)", async () => {
      const { version, runId } = await register("named", { policy: POLICY });
      const original = await evaluated("named", version, { data: await uploaded(file("eval.csv")) });
      const flipped = await evaluated("named", version, { data: await uploaded(reversed(file("eval.csv"))) });
      expect(flipped.phase, JSON.stringify(flipped)).toBe("Passed");
      expect(accuracy(flipped)).toBe(accuracy(original));
      expect(flipped.features).toEqual({ matchedBy: "name", from: expect.stringContaining(`runs:/${runId}/data/train.csv`), names: ["f0", "f1", "f2"] });
      expect(flipped.referenceOrigin).toBe(`lineage dataset 'train' of run ${runId}`);
      expect(flipped.checks.filter((c) => c.name.startsWith("drift:")).every((c) => c.passed)).toBe(true);
    }, 60_000);

    it("takes the names from the model_card.features tag, and refuses a header that does not match them", async () => {
      const { version } = await register("tagged", { source: null, policy: "checks:\n  - {type: quality, metric: accuracy, min: 0.8}\n", tags: { "model_card.features": "f0, f1, f2" } });
      const original = await evaluated("tagged", version, { data: await uploaded(file("eval.csv")) });
      const flipped = await evaluated("tagged", version, { data: await uploaded(reversed(file("eval.csv"))) });
      expect(accuracy(flipped)).toBe(accuracy(original));
      expect(flipped.features).toMatchObject({ matchedBy: "name", from: "the model_card.features tag" });
      const mismatch = await evaluate("tagged", version, { data: await uploaded("f0,f1,f9,label,group\n1,2,3,0,A\n") });
      expect(mismatch.json().error).toMatchObject({ code: "INVALID_INPUT", details: { missing: ["f2"], extra: ["f9"] } });
    }, 60_000);

    it("matches by position only when the model names no features, and says so", async () => {
      const { version } = await register("unnamed", { source: null, policy: "checks:\n  - {type: quality, metric: accuracy, min: 0.5}\n" });
      const evaluation = await evaluated("unnamed", version, { data: await uploaded(file("eval.csv")) });
      expect(evaluation.features).toMatchObject({ matchedBy: "position", names: ["f0", "f1", "f2"] });
      expect(evaluation.features!.from).toContain("--reference");
      expect(evaluation.referenceNote).toContain("--reference");
      // A header as wide as the model's input is required in any case.
      expect((await evaluate("unnamed", version, { data: await uploaded("f0,f1,label\n1,2,0\n") })).json().error.code).toBe("INVALID_INPUT");
    }, 60_000);

    it("names the lineage file it tried when it is not the training CSV, and takes --reference instead", async () => {
      // The quickstart's lineage dataset: scikit-learn's bundled file, whose first line is not a header.
      const sklearn = "569,30,malignant,benign\n17.99,10.38,122.8,0\n20.57,17.77,132.9,0\n";
      const { version, runId } = await register("sklearnish", { source: (id) => `runs:/${id}/data/breast_cancer.csv`, artifacts: { "data/breast_cancer.csv": sklearn, "data/train.csv": file("train.csv") }, policy: POLICY });
      const data = await uploaded(file("eval.csv"));
      const refused = (await evaluate("sklearnish", version, { data })).json().error;
      expect(refused.code).toBe("INVALID_INPUT");
      expect(refused.message).toContain(`runs:/${runId}/data/breast_cancer.csv`);
      expect(refused.message).toContain("--reference");
      const explicit = await evaluated("sklearnish", version, { data, reference: `runs:/${runId}/data/train.csv` });
      expect(explicit.phase).toBe("Passed");
      expect(explicit).toMatchObject({ referencePath: `runs:/${runId}/data/train.csv`, referenceOrigin: "explicit" });
    }, 60_000);
  });
});
