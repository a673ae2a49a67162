// The golden path after training, against a running Paved server: register the run's model,
// give it a model card, evaluate it against its gate policy, and deploy it to production as a
// canary while sending inference traffic, until the deployment is promoted or rolled back.
// Used by `npm run quickstart` (scripts/quickstart.ts) and by test/golden-path.test.ts.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Deployment, Evaluation } from "../src/client/index.ts";

export type { Deployment, Evaluation };

export interface Client {
  url: string;
  token: string;
}

/** What the traffic sent during a rollout got: versions that answered, retries to stable, failures left. */
export interface Traffic {
  requests: number;
  byVersion: Record<string, number>;
  retriedToStable: number;
  failed: number;
}

export class ApiError extends Error {
  /** The platform's error code (GATE_FAILED, CONFLICT, ...), from `{error: {code, message}}`. */
  readonly code: string | undefined;

  constructor(
    readonly status: number,
    readonly body: { error?: { code?: string; message?: string } },
    path: string,
  ) {
    super(`${path} answered ${status}: ${body.error?.code ?? ""} ${body.error?.message ?? JSON.stringify(body).slice(0, 300)}`);
    this.code = body.error?.code;
  }
}

export async function api<T>(client: Client, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(client.url + path, {
    method,
    headers: { authorization: `Bearer ${client.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const parsed = (text ? JSON.parse(text) : {}) as T & Record<string, unknown>;
  if (!res.ok) throw new ApiError(res.status, parsed as ApiError["body"], `${method} ${path}`);
  return parsed;
}

/** The model card the default gate policy's compliance check requires (docs/evaluation.md). */
export const MODEL_CARD: Record<string, string> = {
  owner: "quickstart",
  intendedUse: "demonstrating Paved's golden path on the breast-cancer dataset; not for diagnosis",
  limitations: "569 rows from one study; an MLP on 30 numeric features; not clinically validated",
  license: "BSD-3-Clause (the dataset, as bundled with scikit-learn)",
};

/** Registers runs:/<run>/outputs as a new version of `model` and sets the model card tags. */
export async function register(client: Client, model: string, runId: string): Promise<string> {
  const version = await api<{ version: string | number }>(client, "POST", `/api/v1/models/${encodeURIComponent(model)}/versions`, { source: `runs:/${runId}/outputs` });
  for (const [field, value] of Object.entries(MODEL_CARD)) {
    await api(client, "POST", "/api/2.0/mlflow/registered-models/set-tag", { name: model, key: `model_card.${field}`, value });
  }
  return String(version.version);
}

/** Downloads a run artifact to `dir`. */
export async function download(client: Client, runId: string, path: string, dir: string): Promise<string> {
  const res = await fetch(`${client.url}/api/v1/runs/${runId}/artifacts/content?path=${encodeURIComponent(path)}`, { headers: { authorization: `Bearer ${client.token}` } });
  if (!res.ok) throw new Error(`downloading ${path} of run ${runId} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  mkdirSync(dir, { recursive: true });
  const file = resolve(dir, path.split("/").pop()!);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

/**
 * Evaluates model@version on the run's eval.csv artifact, with its reference.csv for drift (both
 * named by runs:/ URIs: the server reads only files it stores). The server accepts the evaluation
 * at once (Pending) and runs it; this waits for the result. eval.csv is also downloaded to
 * `dir/<run id>/`, where callers take inference rows from.
 */
export async function evaluate(client: Client, model: string, version: string, runId: string, dir: string, timeoutMs = 300_000): Promise<Evaluation> {
  await download(client, runId, "outputs/eval.csv", join(dir, runId));
  const body = { data: `runs:/${runId}/outputs/eval.csv`, reference: `runs:/${runId}/outputs/reference.csv`, label: "label" };
  let evaluation = await api<Evaluation>(client, "POST", `/api/v1/models/${encodeURIComponent(model)}/versions/${version}/evaluations`, body);
  const deadline = Date.now() + timeoutMs;
  while (evaluation.phase === "Pending" || evaluation.phase === "Running") {
    if (Date.now() > deadline) throw new Error(`evaluation ${evaluation.id} of ${model}@${version} is still ${evaluation.phase} after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    evaluation = await api<Evaluation>(client, "GET", `/api/v1/evaluations/${evaluation.id}`);
  }
  if (evaluation.phase === "Error") throw new Error(`evaluation ${evaluation.id} of ${model}@${version} could not run: ${evaluation.message}`);
  return evaluation;
}

/** One row of the eval CSV's features, the request body /v2/models/<m>/infer takes. */
export function inferBody(features: number[]): unknown {
  return { inputs: [{ name: "input", shape: [1, features.length], datatype: "FP32", data: features }] };
}

/**
 * Creates a canary deployment of model@version to production and sends requests to the
 * unversioned endpoint until it is promoted or rolled back. A request that fails is retried
 * against the stable version by number, so clients keep being served during a bad rollout.
 */
export async function deployWithTraffic(
  client: Client,
  model: string,
  version: string,
  rows: number[][],
  opts: { steps?: number[]; intervalSeconds?: number; timeoutMs?: number } = {},
): Promise<{ deployment: Deployment; traffic: Traffic }> {
  let deployment = await api<Deployment>(client, "POST", "/api/v1/deployments", {
    model,
    version,
    environment: "production",
    strategy: "canary",
    steps: opts.steps ?? [10, 50, 100],
    stepIntervalSeconds: opts.intervalSeconds ?? 2,
  });
  const traffic: Traffic = { requests: 0, byVersion: {}, retriedToStable: 0, failed: 0 };
  const stable = deployment.status.stableVersion;
  const post = (path: string, body: unknown) =>
    fetch(client.url + path, { method: "POST", headers: { authorization: `Bearer ${client.token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const send = async (body: unknown) => {
    traffic.requests++;
    let res = await post(`/v2/models/${encodeURIComponent(model)}/infer`, body);
    if (!res.ok && stable !== null) {
      await res.body?.cancel();
      traffic.retriedToStable++;
      res = await post(`/v2/models/${encodeURIComponent(model)}/versions/${stable}/infer`, body);
    }
    if (!res.ok) {
      traffic.failed++;
      await res.body?.cancel();
      return;
    }
    const answer = (await res.json()) as { model_version: string };
    traffic.byVersion[answer.model_version] = (traffic.byVersion[answer.model_version] ?? 0) + 1;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let i = 0;
  const batch = () => Promise.all(Array.from({ length: 8 }, () => send(inferBody(rows[i++ % rows.length]!))));
  while (["Progressing", "Paused"].includes(deployment.status.phase)) {
    if (Date.now() > deadline) throw new Error(`deployment ${deployment.id} is still ${deployment.status.phase} after ${(opts.timeoutMs ?? 120_000) / 1000} s`);
    // A first deployment has nothing serving until it switches, so traffic starts with a stable version.
    if (stable !== null) await batch();
    else await new Promise((r) => setTimeout(r, 200));
    deployment = await api<Deployment>(client, "GET", `/api/v1/deployments/${deployment.id}`);
  }
  // And once it is over: whichever version now holds production answers.
  await batch();
  return { deployment, traffic };
}

/** The feature rows of a CSV written by train.py (every column but `label`). */
export function featureRows(csv: string): number[][] {
  const [header, ...lines] = csv.trim().split("\n");
  const label = header!.split(",").indexOf("label");
  return lines.map((l) => l.split(",").map(Number).filter((_, j) => j !== label));
}
