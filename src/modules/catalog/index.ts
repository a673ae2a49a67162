// Catalog: the named compute profiles (cpu, gpu-1, …) users ask for instead of raw resources, and
// the price list (GPU-, CPU- and memory-hours, serving replica-hours, storage GB-months) costs and
// budgets are figured in. Configuration, not database rows: a YAML file shipped here, replaced
// whole by compute.profilesFile, so an operator changes the menu and the prices without a
// migration. It also ships the default evaluation gate policy and the templates users scaffold
// specs from (the golden-path pipeline), and serves the user documentation (docs/*.md) to the web UI.
import { fileURLToPath } from "node:url";
import type { RouteDefinition } from "../../core/index.ts";
import { DocsLibrary } from "../../core/docs-library.ts";
import { docsRoutes } from "./docs-routes.ts";
import { catalogRoutes } from "./routes.ts";
import { ProfileCatalog } from "./service.ts";
import { TemplateCatalog } from "./templates.ts";

export { ProfileCatalog, BUILT_IN_PROFILES_FILE, type PricedResources } from "./service.ts";
export { TemplateCatalog, BUILT_IN_TEMPLATES_DIR } from "./templates.ts";
export { docsRoutes } from "./docs-routes.ts";
/** The gate policy (YAML) a registered model gets until it stores its own; parsed by the evaluation module. */
export const BUILT_IN_GATE_POLICY_FILE = fileURLToPath(new URL("./gate-policy.default.yaml", import.meta.url));
export { podSpecPatchHostAccess, podSpecPatchProblems, JOB_CONTAINER, POD_SPEC_PATCH_FIELDS } from "./pod-spec-patch.ts";
export { memorySchema, parseMemoryMiB, pricesSchema, profileListSchema, profileSchema, templateSchema, type Prices, type Profile, type TemplateView } from "./schema.ts";

export interface CatalogModule {
  service: ProfileCatalog;
  templates: TemplateCatalog;
  routes: RouteDefinition[];
}

/** Loads the profile catalog (the configured file or the built-in one) and its routes. */
export function createCatalogModule(deps: { profilesFile?: string; docs?: DocsLibrary }): CatalogModule {
  const service = ProfileCatalog.load(deps.profilesFile);
  const templates = new TemplateCatalog();
  return { service, templates, routes: [...catalogRoutes(service, templates), ...docsRoutes(deps.docs ?? new DocsLibrary())] };
}
