// The end of `npm run quickstart`: waits for the job to finish, then prints where everything
// landed: run, params, metrics, lineage, checkpoints, artifacts, and the commands to look again.
//   node --import tsx scripts/quickstart.ts <job-id> <data-dir>     (PAVED_URL, PAVED_TOKEN set)
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

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
out();
out("Look again:");
out(`  export PAVED_URL=${url} PAVED_TOKEN=$(cat ${join(dataDirArg, "quickstart-token")})`);
out(`  node bin/paved.js runs show ${run.id}`);
out(`  node bin/paved.js jobs logs ${job.id}`);
out(`  node bin/paved.js runs ls --experiment quickstart --order-by "metrics.val_loss ASC"`);
out(`  MLflow clients: MLFLOW_TRACKING_URI=${url} MLFLOW_TRACKING_TOKEN=$PAVED_TOKEN`);
out();
out("Try retry + resume: add `fail-at-epoch: 5` under hyperparameters in examples/quickstart/job.yaml and rerun;");
out("attempt 1 exits 75 after epoch 5, attempt 2 resumes from the checkpoint at epoch 6.");
out();
const pidFile = join(dataDir, "server.pid");
out(`The server keeps running on ${url}. Stop it with:  ${existsSync(pidFile) ? `kill $(cat ${join(dataDirArg, "server.pid")})` : "Ctrl-C in the terminal running paved up"}`);
