// Features: feature sets (named, versioned SQL over pinned dataset versions) materialized by the
// datasets module's confined DuckDB into dataset versions with lineage, and point-in-time-correct
// training sets (labels as-of joined to feature values by entity key and timestamp). Offline only.
// Above datasets; reads and writes data only through DatasetService.
import type { RouteDefinition } from "../../core/index.ts";
import type { DatasetService } from "../datasets/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import { featureRoutes } from "./routes.ts";
import { FeatureService } from "./service.ts";
import { FeatureSetStore } from "./store.ts";

export { FeatureService } from "./service.ts";
export * from "./schema.ts";

export interface FeaturesModule {
  service: FeatureService;
  routes: RouteDefinition[];
}

export function createFeaturesModule(deps: PlatformDeps & { datasets: DatasetService }): FeaturesModule {
  const service = new FeatureService({ store: new FeatureSetStore(deps.database.db), db: deps.database.db, datasets: deps.datasets, clock: deps.clock });
  return { service, routes: featureRoutes(service) };
}
