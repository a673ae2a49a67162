// Every page of the UI: its path (the URL is the page's state) and its title in the navigation.
// Pages load on first visit, so the first paint stays small.
import type { ComponentType } from "react";

// Pages import PageProps from page-props.ts, not from here: this file loads them (no cycle).
import type { PageProps } from "./page-props.ts";
import { matchPath } from "./router.tsx";

export interface PageRoute {
  path: string;
  page: PageModule;
  /** Shown in the navigation when set. */
  nav?: string;
  /** The navigation entry this page belongs under (highlighted while it is open). */
  section: string;
}

/**
 * A page's code, loaded once on first use. Not React.lazy: a lazy page suspends, and React holds a
 * revealed Suspense boundary back for up to 300 ms; the app instead starts loading the page's code
 * beside the session's check and renders it when both are there (app.tsx).
 */
export interface PageModule {
  load(): Promise<ComponentType<PageProps>>;
  /** Set once loaded. */
  loaded: ComponentType<PageProps> | undefined;
}

const page = (importer: () => Promise<{ default: ComponentType<PageProps> }>): PageModule => {
  let loading: Promise<ComponentType<PageProps>> | undefined;
  const module: PageModule = {
    loaded: undefined,
    load: () =>
      (loading ??= importer().then(
        (m) => (module.loaded = m.default),
        (error: unknown) => {
          // A failed fetch (a new build deployed, the network) may succeed on the next visit.
          loading = undefined;
          throw error;
        },
      )),
  };
  return module;
};

/** The route a path opens, with its parameters; undefined when no page has that path. */
export function routeOf(path: string): { route: PageRoute; params: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    const params = matchPath(route.path, path);
    if (params) return { route, params };
  }
  return undefined;
}

export const ROUTES: PageRoute[] = [
  { path: "/", page: page(() => import("./pages/home.tsx")), nav: "Home", section: "home" },
  { path: "/experiments", page: page(() => import("./pages/experiments.tsx")), nav: "Experiments", section: "experiments" },
  { path: "/experiments/:id", page: page(() => import("./pages/runs.tsx")), section: "experiments" },
  { path: "/runs", page: page(() => import("./pages/runs.tsx")), section: "experiments" },
  { path: "/runs/:id", page: page(() => import("./pages/run.tsx")), section: "experiments" },
  { path: "/compare", page: page(() => import("./pages/compare.tsx")), section: "experiments" },
  { path: "/jobs", page: page(() => import("./pages/jobs.tsx")), nav: "Jobs", section: "jobs" },
  { path: "/jobs/:id", page: page(() => import("./pages/job.tsx")), section: "jobs" },
  { path: "/compute", page: page(() => import("./pages/compute.tsx")), nav: "Compute", section: "compute" },
  { path: "/models", page: page(() => import("./pages/models.tsx")), nav: "Models", section: "models" },
  { path: "/models/:name", page: page(() => import("./pages/model.tsx")), section: "models" },
  { path: "/models/:name/versions/:version", page: page(() => import("./pages/model-version.tsx")), section: "models" },
  { path: "/deployments", page: page(() => import("./pages/deployments.tsx")), nav: "Deployments", section: "deployments" },
  { path: "/deployments/:id", page: page(() => import("./pages/deployment.tsx")), section: "deployments" },
  // /workspaces/<id>/ is the workspace proxy (Jupyter itself): a workspace's page is /workspace/<id>.
  { path: "/monitors", page: page(() => import("./pages/monitors.tsx")), nav: "Monitoring", section: "monitoring" },
  { path: "/monitors/:id", page: page(() => import("./pages/monitor.tsx")), section: "monitoring" },
  { path: "/workspaces", page: page(() => import("./pages/workspaces.tsx")), nav: "Workspaces", section: "workspaces" },
  { path: "/workspace/:id", page: page(() => import("./pages/workspace.tsx")), section: "workspaces" },
  { path: "/datasets", page: page(() => import("./pages/datasets.tsx")), nav: "Datasets", section: "datasets" },
  { path: "/datasets/:name", page: page(() => import("./pages/dataset.tsx")), section: "datasets" },
  { path: "/pipelines", page: page(() => import("./pages/pipelines.tsx")), nav: "Pipelines", section: "pipelines" },
  { path: "/pipelines/:name", page: page(() => import("./pages/pipeline.tsx")), section: "pipelines" },
  { path: "/pipeline-runs/:id", page: page(() => import("./pages/pipeline-run.tsx")), section: "pipelines" },
  { path: "/catalog", page: page(() => import("./pages/catalog.tsx")), nav: "Catalog", section: "catalog" },
  { path: "/docs", page: page(() => import("./pages/docs.tsx")), nav: "Docs", section: "docs" },
  { path: "/docs/:topic", page: page(() => import("./pages/docs.tsx")), section: "docs" },
  { path: "/adoption", page: page(() => import("./pages/adoption.tsx")), nav: "Adoption", section: "adoption" },
  { path: "/admin", page: page(() => import("./pages/admin.tsx")), nav: "Admin", section: "admin" },
];
