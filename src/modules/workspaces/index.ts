// Workspaces: Jupyter servers for people, each run as a job (the team's quota, fair share, GPUs
// pinned), reached only through Paved's proxy at /workspaces/<id>/ behind Paved's login, and stopped
// when idle with their home folder kept. Above compute (its jobs run the servers) and identity.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PassthroughDefinition, Principal, RouteDefinition } from "../../core/index.ts";
import type { ProfileCatalog } from "../catalog/index.ts";
import type { JobService, RunRecorder } from "../compute/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { WorkspaceController, type GpuUse } from "./controller.ts";
import { EnvironmentBuilder } from "./environment-builder.ts";
import { EnvironmentCatalog } from "./environment-catalog.ts";
import type { ModelSource, RunSource } from "./reproduce.ts";
import { workspaceProxy } from "./proxy.ts";
import { workspaceRoutes } from "./routes.ts";
import { WorkspaceService } from "./service.ts";
import { WorkspaceStore } from "./store.ts";

export { KernelClient, type ExecuteResult } from "./kernel-client.ts";
export { WebSocketClient } from "./websocket.ts";
export { WorkspaceService } from "./service.ts";
export { parseTarget, PROXY_PREFIX, WORKSPACE_COOKIE } from "./proxy.ts";
export { JUPYTER_PACKAGE } from "./jupyter.ts";
export { percentile } from "./routes.ts";
export type { GpuUse } from "./controller.ts";
export * from "./schema.ts";

export interface WorkspacesDeps extends PlatformDeps {
  jobs: JobService;
  catalog: ProfileCatalog;
  runs: Pick<RunRecorder, "ensureExperiment">;
  /** Tracking's runs and the registry's versions, which `--from-run` and `--from-model` reproduce. */
  runSource: RunSource;
  models: ModelSource;
  serverUrl: () => string;
  /** The principal of a user by id (a workspace's browser cookie); identity's TokenService.principalOf. */
  principalOf: (userId: string) => Promise<Principal | undefined>;
  /** How to run `paved` (node and the CLI's script): a workspace's PATH gets a `paved` that runs it. */
  cli: { node: string; script: string };
  /** The server's allow-listed PATH, after the folder with `paved`. */
  path: string;
  gpuUse?: GpuUse;
}

export interface WorkspacesModule {
  service: WorkspaceService;
  routes: RouteDefinition[];
  proxy: PassthroughDefinition;
  controller: { start(): void; stop(): Promise<void> };
}

export function createWorkspacesModule(deps: WorkspacesDeps): WorkspacesModule {
  const logger = deps.logger.child({ module: "workspaces" });
  const store = new WorkspaceStore(deps.database.db);
  const settings = deps.config.workspaces;
  const environments = EnvironmentCatalog.load(settings.environments.file);
  const builder = new EnvironmentBuilder({
    cacheDir: join(deps.config.dataDir, "environments"),
    sources: { indexUrl: settings.environments.indexUrl, findLinks: settings.environments.findLinks },
    path: deps.path,
    timeoutMs: settings.environments.buildTimeoutSeconds * 1000,
    clock: deps.clock,
    logger,
  });
  const holder: { service?: WorkspaceService } = {};
  const controller = new WorkspaceController({ store, jobs: deps.jobs, service: () => holder.service!, settings, clock: deps.clock, logger, dataDir: deps.config.dataDir, ...(deps.gpuUse ? { gpuUse: deps.gpuUse } : {}) });
  const service = new WorkspaceService({
    store,
    runAs: deps.config.compute.runAs,
    jobs: deps.jobs,
    catalog: deps.catalog,
    runs: deps.runs,
    runSource: deps.runSource,
    models: deps.models,
    environments,
    builder,
    settings,
    dataDir: deps.config.dataDir,
    binDir: writeCliShim(deps.config.dataDir, deps.cli),
    path: deps.path,
    serverUrl: deps.serverUrl,
    clock: deps.clock,
    ids: deps.ids,
    logger,
    kick: () => controller.kick(),
  });
  holder.service = service;
  // Jobs submitted from a workspace run on a snapshot of their code, in its environment.
  deps.jobs.usePreparer((job, principal) => service.prepareJob(job, principal));
  return {
    service,
    routes: workspaceRoutes(service, store, () => deps.clock.now()),
    proxy: workspaceProxy({ store, principalOf: deps.principalOf, now: () => deps.clock.now(), touched: (id) => controller.touch(id), notebookOpened: (id, kernel, path) => controller.notebookOpened(id, kernel, path) }),
    controller,
  };
}

/** A folder with a `paved` that runs this server's CLI, for workspaces' PATH. */
function writeCliShim(dataDir: string, cli: { node: string; script: string }): string {
  const dir = join(dataDir, "workspaces", "bin");
  mkdirSync(dir, { recursive: true });
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(join(dir, "paved"), `#!/bin/sh\nexec ${quote(cli.node)} ${quote(cli.script)} "$@"\n`, { mode: 0o755 });
  chmodSync(join(dir, "paved"), 0o755);
  return dir;
}
