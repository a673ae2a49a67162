import { describe, expect, it } from "vitest";
import type { ModelVersion } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const version: ModelVersion = {
  name: "churn",
  version: "3",
  status: "READY",
  source: "runs:/abc/model",
  runId: "abc",
  description: null,
  user: "ada",
  aliases: ["champion"],
  tags: {},
  createdAt: 1_000,
  updatedAt: 1_000,
  loggedModelId: null,
  signature: { file: "model.onnx", inputs: [{ name: "features", type: "float32", shape: ["batch", 4] }], outputs: [{ name: "scores", type: "float32", shape: ["batch", 2] }] },
  lineage: { runId: "abc", experimentId: "1", commit: "c0ffee", datasets: [{ name: "customers", digest: "d1", source: "s3://x", sourceType: "s3", context: null }], capturedAt: 1_000 },
  files: [{ path: "model.onnx", size: 2048, digest: "0".repeat(64) }],
  downloadUri: "mlflow-artifacts:/registry/churn/3",
};

describe("paved models", () => {
  it("ls renders models with aliases", async () => {
    const result = await runForTest(["models", "ls", "--filter", "name LIKE 'ch%'"], () => ({
      models: [{ name: "churn", description: null, user: "ada", tags: {}, aliases: { champion: "3" }, latestVersion: "3", createdAt: 1_000, updatedAt: 1_000 }],
    }));
    expect(result.code).toBe(0);
    expect(result.requests[0]).toMatchObject({ path: "/api/v1/models", query: { filter: "name LIKE 'ch%'" } });
    expect(result.stdout).toContain("champion→3");
  });

  it("ls sends --limit and --page-token and notes the next page's token (kept off stdout)", async () => {
    const model = { name: "churn", team: "risk", description: null, user: "ada", tags: {}, aliases: {}, latestVersion: "3", createdAt: 1_000, updatedAt: 1_000 };
    const result = await runForTest(["models", "ls", "--limit", "1", "--page-token", "tok-1"], () => ({ models: [model], nextPageToken: "tok-2" }));
    expect(result.code).toBe(0);
    expect(result.requests[0]).toMatchObject({ path: "/api/v1/models", query: { limit: "1", pageToken: "tok-1" } });
    expect(result.stderr).toContain("more models: add --page-token tok-2");
    expect(result.stdout).not.toContain("tok-2");
    const last = await runForTest(["models", "ls", "--json"], () => ({ models: [model] }));
    expect(JSON.parse(last.stdout)).toEqual({ models: [model] });
    expect(last.stderr).toBe("");
  });

  it("register sends the team a new model goes to; ls shows each model's team", async () => {
    const registered = await runForTest(["models", "register", "runs:/abc/model", "--name", "churn", "--team", "risk"], () => version);
    expect(registered.code).toBe(0);
    expect(registered.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/models/churn/versions", body: { source: "runs:/abc/model", team: "risk" } });
    const listed = await runForTest(["models", "ls"], () => ({
      models: [{ name: "churn", team: "risk", description: null, user: "ada", tags: {}, aliases: {}, latestVersion: "3", createdAt: 1_000, updatedAt: 1_000 }],
    }));
    expect(listed.stdout.split("\n")[0]).toMatch(/^NAME +TEAM +LATEST/);
    expect(listed.stdout.split("\n")[1]).toMatch(/^churn +risk +3/);
  });

  it("show name@alias prints the signature, lineage and files", async () => {
    const result = await runForTest(["models", "show", "churn@champion"], () => version);
    expect(result.requests[0]?.path).toBe("/api/v1/models/churn/versions/champion");
    expect(result.stdout).toContain("features");
    expect(result.stdout).toContain("[batch, 4]");
    expect(result.stdout).toContain("c0ffee");
    expect(result.stdout).toContain("model.onnx");
  });

  it("show name lists each version's production gate under the current policy", async () => {
    const detail = { name: "churn", description: null, user: "ada", tags: {}, aliases: { production: "2" }, latestVersion: "3", createdAt: 1_000, updatedAt: 1_000, versions: [3, 2, 1].map((n) => ({ ...version, version: String(n), aliases: n === 2 ? ["production"] : [] })) };
    const gate = {
      model: "churn",
      policyVersion: "abc123def456",
      versions: [
        { version: "3", gate: "none", evaluation: null, inProgress: { id: "eval-3", phase: "Running" }, latest: { id: "eval-3", phase: "Running" } },
        { version: "2", gate: "passed", evaluation: "eval-2", inProgress: null, latest: { id: "eval-2", phase: "Passed" } },
      ],
    };
    const result = await runForTest(["models", "show", "churn"], (request) => (request.path.endsWith("/gate-status") ? gate : detail));
    expect(result.code).toBe(0);
    expect(result.requests.map((r) => r.path).sort()).toEqual(["/api/v1/models/churn", "/api/v1/models/churn/gate-status"]);
    const line = (n: string) => result.stdout.split("\n").find((l) => new RegExp(`^\\s*${n}\\s`).test(l)) ?? "";
    expect(result.stdout).toContain("abc123def456");
    expect(line("3")).toContain("none; running eval-3");
    expect(line("2")).toContain("passed (eval-2)");
    expect(line("1")).toContain("none");
  });

  it("register posts the source and --json prints the version", async () => {
    const result = await runForTest(["models", "register", "runs:/abc/model", "--name", "churn", "--json"], () => version);
    expect(result.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/models/churn/versions", body: { source: "runs:/abc/model" } });
    expect(JSON.parse(result.stdout).version).toBe("3");
  });

  it("alias puts the version and refuses non-numbers", async () => {
    const result = await runForTest(["models", "alias", "churn", "champion", "3"], () => ({ name: "churn", alias: "champion", version: "3" }));
    expect(result.requests[0]).toMatchObject({ method: "PUT", path: "/api/v1/models/churn/aliases/champion", body: { version: "3" } });
    expect(result.stdout).toBe("churn@champion → version 3\n");
    expect((await runForTest(["models", "alias", "churn", "champion", "latest"])).code).toBe(2);
  });

  it("tag sets and deletes tags of a model, or of a version by number or alias", async () => {
    const model = await runForTest(["models", "tag", "churn", "model_card.owner=ml-team", "model_card.note=a=b", "--delete", "draft"], () => ({
      name: "churn",
      version: null,
      tags: { "model_card.owner": "ml-team", "model_card.note": "a=b" },
    }));
    expect(model.code).toBe(0);
    expect(model.requests[0]).toMatchObject({
      method: "PATCH",
      path: "/api/v1/models/churn/tags",
      body: { set: { "model_card.owner": "ml-team", "model_card.note": "a=b" }, delete: ["draft"] },
    });
    expect(model.stdout).toContain("model_card.owner  ml-team");
    const version = await runForTest(["models", "tag", "churn@champion", "reviewed=yes"], () => ({ name: "churn", version: "3", tags: { reviewed: "yes" } }));
    expect(version.requests[0]).toMatchObject({ method: "PATCH", path: "/api/v1/models/churn/versions/champion/tags", body: { set: { reviewed: "yes" }, delete: [] } });
    expect(version.stdout).toContain("churn@3 tags:");
  });

  it("tag refuses a pair without '=' and a call with nothing to change, before asking the server", async () => {
    const noEquals = await runForTest(["models", "tag", "churn", "owner"]);
    expect(noEquals.code).toBe(2);
    expect(noEquals.requests).toEqual([]);
    expect((await runForTest(["models", "tag", "churn"])).code).toBe(2);
  });

  it("show lists the model's tags", async () => {
    const detail = { name: "churn", description: null, user: "ada", tags: { "model_card.owner": "ml-team" }, aliases: {}, latestVersion: null, createdAt: 1_000, updatedAt: 1_000, versions: [] };
    const gate = { model: "churn", policyVersion: "p", versions: [] };
    const result = await runForTest(["models", "show", "churn"], (request) => (request.path.endsWith("/gate-status") ? gate : detail));
    expect(result.stdout).toContain("model_card.owner  ml-team");
  });
});
