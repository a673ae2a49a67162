// Catalog: the named compute profiles (cpu, gpu-1, …) users ask for instead of raw resources.
// Profiles are configuration, not database rows: a YAML file shipped here, replaced whole by
// compute.profilesFile, so an operator changes the menu without a migration.
import type { RouteDefinition } from "../../core/index.ts";
import { catalogRoutes } from "./routes.ts";
import { ProfileCatalog } from "./service.ts";

export { ProfileCatalog, BUILT_IN_PROFILES_FILE } from "./service.ts";
export { memorySchema, parseMemoryMiB, profileListSchema, profileSchema, type Profile } from "./schema.ts";

export interface CatalogModule {
  service: ProfileCatalog;
  routes: RouteDefinition[];
}

/** Loads the profile catalog (the configured file or the built-in one) and its routes. */
export function createCatalogModule(deps: { profilesFile?: string }): CatalogModule {
  const service = ProfileCatalog.load(deps.profilesFile);
  return { service, routes: catalogRoutes(service) };
}
