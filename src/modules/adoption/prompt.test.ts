// The satisfaction prompt after milestones (issue 12, item 6): the UI asks a person about the
// latest milestone they reached and have not sent feedback on; nobody else is asked.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDialects } from "../../../test/support/databases.ts";
import { createMembers, createTeamsTestApp, type AuthHeaders } from "../../../test/support/teams.ts";
import type { App } from "../../app.ts";
import { buildTestModels, type TestModels } from "../serving/test-models.ts";

describe.each(testDialects())("the feedback prompt after milestones (%s)", (dialect) => {
  let app: App;
  let admin: AuthHeaders;
  let ada: AuthHeaders;
  let models: TestModels;
  const ok = async (who: AuthHeaders, method: "GET" | "POST" | "PUT", url: string, payload?: unknown, headers: Record<string, string> = {}) => {
    const res = await app.server.inject({ method, url, headers: { ...who, ...headers }, ...(payload !== undefined ? { payload: payload as object } : {}) });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(200);
    return res.json();
  };

  beforeAll(async () => {
    models = buildTestModels();
    ({ app, admin } = await createTeamsTestApp(dialect, "prompt"));
    ({ ada } = await createMembers(app, admin, ["fraud"], { ada: [{ team: "fraud", role: "developer" }] }));
  });
  afterAll(async () => app?.close());

  it("asks about the latest milestone reached, until feedback names it", async () => {
    expect(await ok(ada, "GET", "/api/v1/feedback/prompt")).toEqual({ milestone: null, reachedAt: null });

    const { experiment_id: experimentId } = await ok(ada, "POST", "/api/2.0/mlflow/experiments/create", { name: "churn" });
    const started = Date.now();
    const runId = (await ok(ada, "POST", "/api/2.0/mlflow/runs/create", { experiment_id: experimentId, start_time: started })).run.info.run_id as string;
    expect(await ok(ada, "GET", "/api/v1/feedback/prompt")).toEqual({ milestone: "first-run", reachedAt: started });

    await ok(ada, "POST", "/api/v1/feedback", { score: 4, context: "first-run" });
    expect((await ok(ada, "GET", "/api/v1/feedback/prompt")).milestone).toBeNull();

    const put = await app.server.inject({
      method: "PUT",
      url: `/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${runId}/artifacts/model/model.onnx`,
      headers: { ...ada, "content-type": "application/octet-stream" },
      payload: Buffer.from(models.bytes("tiny")),
    });
    expect(put.statusCode, put.body).toBe(200);
    await ok(ada, "POST", "/api/v1/models/churn/versions", { source: `runs:/${runId}/model` });
    expect((await ok(ada, "GET", "/api/v1/feedback/prompt")).milestone).toBe("first-registered-model");
    // Feedback about something else does not answer the milestone.
    await ok(ada, "POST", "/api/v1/feedback", { score: 2, context: "cli" });
    expect((await ok(ada, "GET", "/api/v1/feedback/prompt")).milestone).toBe("first-registered-model");
  });

  it("asks no job: its token is not a person's", async () => {
    const job = { authorization: `Bearer ${await app.tokens.mintForJob("job-prompt", 60_000)}` };
    const res = await app.server.inject({ method: "GET", url: "/api/v1/feedback/prompt", headers: job });
    // A job may not even ask (feedback is a person's), and nothing about the person leaks.
    expect(res.statusCode, res.body).toBe(403);
  });
});
