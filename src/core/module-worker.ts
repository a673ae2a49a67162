import { Worker, type WorkerOptions } from "node:worker_threads";

/**
 * Starts a worker thread running the module `relativePath` (without extension) next to
 * `callerUrl`: the .ts file when the caller runs as TypeScript (tsx, vitest), the compiled .js
 * file otherwise. Neither vitest's transform nor `--import tsx` reach a worker thread on Node 20,
 * so a TypeScript worker registers tsx itself before it imports the module.
 * @example startModuleWorker(import.meta.url, "./table-worker", { workerData: { path } })
 */
export function startModuleWorker(callerUrl: string, relativePath: string, options: Omit<WorkerOptions, "eval"> = {}): Worker {
  const typescript = callerUrl.endsWith(".ts");
  const url = new URL(`${relativePath}${typescript ? ".ts" : ".js"}`, callerUrl);
  if (!typescript) return new Worker(url, options);
  const tsx = import.meta.resolve("tsx/esm/api");
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`, { ...options, eval: true });
}
