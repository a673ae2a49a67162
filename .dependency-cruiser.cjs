/** Layering of ARCHITECTURE.md: core ← storage/artifacts ← modules ← http/cli ← app.ts. */
module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    {
      name: "core-is-the-bottom",
      comment: "core/ depends on nothing else in Paved",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/(?!core/)" },
    },
    {
      name: "storage-and-artifacts-below-modules",
      severity: "error",
      from: { path: "^src/(storage|artifacts|config)/" },
      to: { path: "^src/(modules|http|cli|client|app)" },
    },
    {
      name: "modules-never-import-upward",
      severity: "error",
      from: { path: "^src/modules/" },
      to: { path: "^src/(http|cli|client|app)" },
    },
    {
      name: "modules-only-through-index",
      comment:
        "another module is reached through its index.ts (or its zod schema.ts); serving's live-samples.ts is also an entry, so that the monitors' thread (monitoring/windows-worker.ts) loads the sampler without serving's whole graph (onnxruntime, the database)",
      severity: "error",
      from: { path: "^src/modules/([^/]+)/" },
      to: { path: "^src/modules/([^/]+)/", pathNot: ["^src/modules/$1/", "^src/modules/[^/]+/(index|schema)\\.ts$", "^src/modules/serving/live-samples\\.ts$"] },
    },
    {
      name: "http-below-cli-and-app",
      severity: "error",
      from: { path: "^src/http/" },
      to: { path: "^src/(cli|client|app)" },
    },
    {
      name: "client-shares-only-schemas",
      comment: "client/ (used by the CLI and the web UI) sees core and the modules' zod schemas (schema.ts, or <area>-schema.ts in a module of several areas), nothing server-side",
      severity: "error",
      from: { path: "^src/client/" },
      to: { path: "^src/(?!client/|core/)", pathNot: ["^src/modules/[^/]+/schema\\.ts$", "^src/modules/[^/]+/[a-z]+-schema\\.ts$"] },
    },
    {
      name: "web-ui-through-the-client",
      comment: "the web UI reaches the server only through client/paved-client.ts (and its types and core's errors), never server code",
      severity: "error",
      from: { path: "^web/src/" },
      to: { path: "^src/", pathNot: ["^src/client/(paved-client|types)\\.ts$", "^src/core/errors\\.ts$", "^src/modules/[^/]+/schema\\.ts$", "^src/modules/[^/]+/[a-z]+-schema\\.ts$"] },
    },
    {
      name: "cli-is-thin",
      comment: "the CLI talks to the server through client/; only `paved up` reaches app.ts",
      severity: "error",
      from: { path: "^src/cli/", pathNot: "^src/cli/commands/up\\.ts$" },
      to: { path: "^src/(modules|storage|artifacts|http|app)" },
    },
    {
      name: "heavy-libraries-load-on-use",
      comment:
        "DuckDB (about 40 MB of memory) and the Kubernetes client (about 28 MB of heap, a third of a server's) load when a feature first needs them: import their types statically, their code with import()",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/modules/compute/executors/kubernetes-executor\\.ts$" },
      to: { path: "node_modules/(@duckdb/node-api|@kubernetes/client-node)/", dependencyTypesNot: ["type-only", "dynamic-import"] },
    },
    {
      name: "kubernetes-executor-loads-on-use",
      comment: "the Kubernetes executor (and its client) is loaded only when compute.kubernetes is set",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^src/modules/compute/executors/kubernetes-executor\\.ts$", dependencyTypesNot: ["dynamic-import", "type-only"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "\\.test\\.ts$" },
  },
};
