import { describe, expect, it } from "vitest";
import { runView } from "./routes.ts";
import type { RunDetails } from "./service.ts";

function details(info: Partial<RunDetails["info"]>, tags: Record<string, string>): RunDetails {
  return {
    info: {
      run_id: "a".repeat(32),
      experiment_id: "1",
      run_name: "r",
      user_id: "u",
      status: "RUNNING",
      start_time: 1,
      end_time: null,
      lifecycle_stage: "active",
      artifact_uri: "mlflow-artifacts:/1/r/artifacts",
      source_commit: null,
      source_dirty: null,
      source_entrypoint: null,
      job_id: null,
      deleted_time: null,
      ...info,
    },
    params: [],
    tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
    metrics: [],
    inputs: [],
  };
}

describe("runView", () => {
  it("takes the source from MLflow's source tags when the run was created without one", () => {
    const view = runView(details({}, { "mlflow.source.git.commit": "abc123", "paved.source.dirty": "true", "mlflow.source.name": "python train.py" }));
    expect(view.source).toEqual({ commit: "abc123", dirty: true, entrypoint: "python train.py" });
  });

  it("prefers the source recorded at creation", () => {
    const view = runView(details({ source_commit: "def456", source_dirty: 0, source_entrypoint: "main.py" }, { "mlflow.source.git.commit": "abc123" }));
    expect(view.source).toEqual({ commit: "def456", dirty: false, entrypoint: "main.py" });
  });
});
