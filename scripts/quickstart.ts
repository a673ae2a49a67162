// The end of `npm run quickstart`: waits for the job to finish, then prints where everything
// landed: run, params, metrics, lineage, checkpoints, artifacts; then walks the rest of the golden
// path (scripts/golden-path.ts): registers the model, evaluates it against its gate policy,
// deploys it to production as a canary under traffic, and prints where each result lives.
//   node --import tsx scripts/quickstart.ts <job-id> <data-dir>     (PAVED_URL, PAVED_TOKEN set)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { deployWithTraffic, evaluate, featureRows, register, type Client } from "./golden-path.ts";

const [jobId, dataDirArg = "./.paved"] = process.argv.slice(2);
const url = process.env.PAVED_URL ?? "http://127.0.0.1:8080";
const token = process.env.PAVED_TOKEN ?? "";
if (!jobId) {
  process.stderr.write("usage: node --import tsx scripts/quickstart.ts <job-id> [data-dir]\n");
  process.exit(2);
}
const dataDir = resolve(dataDirArg);

interface Job {
  id: string;
  phase: string;
  attempt: number;
  maxAttempts: number;
  runId: string | null;
  exitCode: number | null;
  message: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}
interface Run {
  id: string;
  status: string;
  experimentId: string;
  artifactUri: string;
  source: { commit: string | null; dirty: boolean | null; entrypoint: string | null };
  params: Record<string, string>;
  metrics: Record<string, { value: number; step: number; timestamp: number }>;
  tags: Record<string, string>;
  inputs: { name: string; digest: string; source?: string; sourceType?: string }[];
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const out = (s = "") => process.stdout.write(`${s}\n`);

let job = await get<Job>(`/api/v1/jobs/${jobId}`);
const deadline = Date.now() + 15 * 60_000;
while (!["SUCCEEDED", "FAILED", "CANCELLED"].includes(job.phase)) {
  if (Date.now() > deadline) throw new Error(`job ${jobId} is still ${job.phase} after 15 minutes`);
  await new Promise((r) => setTimeout(r, 500));
  job = await get<Job>(`/api/v1/jobs/${jobId}`);
}

const seconds = job.startedAt && job.finishedAt ? ` in ${((job.finishedAt - job.startedAt) / 1000).toFixed(1)} s` : "";
out(`${bold(`job ${job.id}: ${job.phase}`)}${seconds}, attempt ${job.attempt} of ${job.maxAttempts}${job.exitCode !== null ? `, exit code ${job.exitCode}` : ""}`);
if (job.phase !== "SUCCEEDED") {
  out(job.message ?? "");
  out(`See why: node bin/paved.js jobs describe ${job.id}   and   node bin/paved.js jobs logs ${job.id}`);
  process.exit(1);
}
if (!job.runId) throw new Error(`job ${job.id} succeeded but has no run`);

const run = await get<Run>(`/api/v1/runs/${job.runId}`);
const files = (await get<{ files: { path: string; isDir: boolean; size: number | null }[] }>(`/api/v1/runs/${run.id}/artifacts?path=outputs`).catch(() => ({ files: [] }))).files;
const checkpoints = join(dataDir, "jobs", job.id, "checkpoints");

out();
out(`${bold("run")}          ${run.id} (${run.status}, experiment ${run.experimentId})`);
out(`${bold("params")}       ${Object.entries(run.params).map(([k, v]) => `${k}=${v}`).join("  ")}`);
const metric = ([k, m]: [string, Run["metrics"][string]]) => `${k}=${Number(m.value.toFixed(4))} (step ${m.step})`;
const entries = Object.entries(run.metrics);
out(`${bold("metrics")}      ${entries.filter(([k]) => !k.startsWith("system/")).map(metric).join("  ")}`);
const system = entries.filter(([k]) => k.startsWith("system/"));
if (system.length) out(`              ${system.map(metric).join("  ")}`);
// The commit is on the run's source, or in MLflow's standard tag.
const commit = run.source.commit ?? run.tags["mlflow.source.git.commit"];
const dirty = run.source.dirty ?? (run.tags["paved.source.dirty"] === undefined ? null : run.tags["paved.source.dirty"] === "true");
const entrypoint = run.source.entrypoint ?? run.tags["mlflow.source.name"];
out(`${bold("lineage")}      code: ${commit ? `git ${commit.slice(0, 12)}${dirty ? " + uncommitted changes" : ""}` : "not a git checkout"}${entrypoint ? `, entrypoint ${entrypoint}` : ""}`);
for (const input of run.inputs) out(`              data: ${input.name} ${input.digest}${input.source ? ` from ${input.source}` : ""}`);
out(`${bold("checkpoints")}  ${checkpoints}${existsSync(checkpoints) ? ` (${readdirSync(checkpoints).join(", ")})` : ""}`);
out(`${bold("artifacts")}    ${files.length ? files.map((f) => `${f.path}${f.size !== null ? ` (${f.size} B)` : ""}`).join("  ") : "(none listed)"}`);
const onnx = files.find((f) => f.path.endsWith("model.onnx"));
if (onnx) out(`${bold("model")}        ${onnx.path} of run ${run.id}; download: curl -H "Authorization: Bearer $PAVED_TOKEN" "${url}/api/v1/runs/${run.id}/artifacts/content?path=${onnx.path}" -o model.onnx`);
const timed = async <T>(f: () => Promise<T>): Promise<[T, string]> => {
  const started = Date.now();
  const value = await f();
  return [value, `${((Date.now() - started) / 1000).toFixed(1)} s`];
};
const client: Client = { url, token };
const model = "quickstart";
out();
out(bold("Registering, evaluating and deploying the model"));
const [version, registerTook] = await timed(() => register(client, model, run.id));
out(`${bold("registered")}   ${model}@${version} from runs:/${run.id}/outputs, model card tags set (${registerTook})`);
const [evaluation, evaluateTook] = await timed(() => evaluate(client, model, version, run.id, join(dataDir, "golden-path")));
out(`${bold("evaluated")}    ${evaluation.id}: ${evaluation.passed ? "passed" : "FAILED"} the gate (${evaluateTook})`);
out(`              data ${evaluation.dataPath}, reference ${evaluation.referencePath ?? "none"}${evaluation.referenceOrigin ? ` (${evaluation.referenceOrigin})` : ""}; ${evaluation.features?.names.length ?? "?"} features matched by ${evaluation.features?.matchedBy ?? "?"}`);
const byType = new Map<string, number>();
for (const check of evaluation.checks) if (check.passed) byType.set(check.type, (byType.get(check.type) ?? 0) + 1);
out(`              passed: ${[...byType].map(([type, n]) => `${type}${n > 1 ? ` (${n} checks)` : ""}`).join(", ") || "none"}`);
for (const check of evaluation.checks) if (!check.passed) out(`              FAILED ${check.name}: ${check.hint ?? ""}`);
if (!evaluation.passed) {
  out(`The gate refuses ${model}@${version} for production. See: node bin/paved.js evaluations show ${evaluation.id}`);
  process.exit(1);
}
const rows = featureRows(readFileSync(join(dataDir, "golden-path", run.id, "eval.csv"), "utf8"));
const [{ deployment, traffic }, deployTook] = await timed(() => deployWithTraffic(client, model, version, rows));
out(`${bold("deployed")}     ${deployment.id}: ${deployment.status.phase} (${deployTook})`);
for (const event of deployment.status.history) out(`              ${event.reason}`);
out(`              traffic: ${traffic.requests} requests to /v2/models/${model}/infer, answered by ${Object.entries(traffic.byVersion).map(([v, n]) => `version ${v}: ${n}`).join(", ")}${traffic.retriedToStable ? `, ${traffic.retriedToStable} retried to stable` : ""}${traffic.failed ? `, ${traffic.failed} failed` : ""}`);
if (deployment.status.phase !== "Succeeded") {
  out(`See why: node bin/paved.js deployments status ${deployment.id}`);
  process.exit(1);
}
out(`${bold("serving")}      ${url}/v2/models/${model}/infer  (production = version ${version})`);
out(`              curl -H "Authorization: Bearer $PAVED_TOKEN" -H content-type:application/json ${url}/v2/models/${model}/infer \\`);
out(`                -d '{"inputs":[{"name":"input","shape":[1,30],"datatype":"FP32","data":[${rows[0]!.join(",")}]}]}'`);
out();
out("Look again:");
out(`  export PAVED_URL=${url} PAVED_TOKEN=$(cat ${join(dataDirArg, "quickstart-token")})`);
out(`  node bin/paved.js runs show ${run.id}`);
out(`  node bin/paved.js jobs logs ${job.id}`);
out(`  node bin/paved.js models show ${model}@${version}`);
out(`  node bin/paved.js evaluations show ${evaluation.id}`);
out(`  node bin/paved.js deployments status ${deployment.id}`);
out(`  node bin/paved.js runs ls --experiment quickstart --order-by "metrics.val_loss ASC"`);
out(`  MLflow clients: MLFLOW_TRACKING_URI=${url} MLFLOW_TRACKING_TOKEN=$PAVED_TOKEN`);
out(`  In a browser: ${url}/runs/${run.id} and ${url}/deployments/${deployment.id} (sign in with that token)`);
out();
out("Try retry + resume: add `fail-at-epoch: 5` under hyperparameters in examples/quickstart/job.yaml and rerun;");
out("attempt 1 exits 75 after epoch 5, attempt 2 resumes from the checkpoint at epoch 6.");
out("Try the gate: add `degrade: true` (fails evaluation) or `input-name: features` (passes it, then the");
out("canary breaks every client and is rolled back automatically) and rerun.");
out();
const pidFile = join(dataDir, "server.pid");
out(`The server keeps running on ${url}. Stop it with:  ${existsSync(pidFile) ? `kill $(cat ${join(dataDirArg, "server.pid")})` : "Ctrl-C in the terminal running paved up"}`);
if (existsSync(pidFile)) out(`Its data plane keeps serving the model after that (docs/serving.md#the-data-plane); stop it too with:  node bin/paved.js dataplane stop --data-dir ${dataDirArg}`);
