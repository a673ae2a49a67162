import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadSpecDocuments, loadSpecFile, parseSpecText } from "./spec-file.ts";

describe("spec files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "paved-spec-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("runs a job in the spec file's folder by default", async () => {
    await writeFile(join(dir, "job.yaml"), "kind: Job\nname: mnist\ncommand: [python3, train.py, --epochs, 5]\n");
    const [doc] = await loadSpecFile("job.yaml", dir);
    expect(doc).toEqual({ kind: "Job", spec: { name: "mnist", command: ["python3", "train.py", "--epochs", "5"], workingDir: dir }, where: join(dir, "job.yaml") });
  });

  it("reads a Sweep, its trial's workingDir resolved against the file's folder; a jobs-only reader refuses it", async () => {
    await writeFile(join(dir, "sweep.yaml"), "kind: Sweep\nname: s\nmethod: grid\nparameters: {lr: {values: [1, 2]}}\ntrial:\n  command: [python3, train.py]\n  workingDir: src\n");
    const [doc] = await loadSpecDocuments("sweep.yaml", dir);
    expect(doc?.kind).toBe("Sweep");
    expect(doc?.spec).toMatchObject({ name: "s", method: "grid", trial: { command: ["python3", "train.py"], workingDir: join(dir, "src") } });
    await expect(loadSpecFile("sweep.yaml", dir)).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await writeFile(join(dir, "bad.yaml"), "kind: Sweep\nname: s\nmethod: grid\n");
    await expect(loadSpecDocuments("bad.yaml", dir)).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });

  it("resolves a relative workingDir and dataset paths against the file's folder, not the cwd", async () => {
    await writeFile(
      join(dir, "job.yaml"),
      "name: a\nworkingDir: ./src\ncheckpointDir: ckpt\ncommand: [echo]\ndatasets:\n  - {name: train, path: data/train.csv}\n  - {name: ref, source: s3://b/x, digest: abc}\n",
    );
    const [doc] = await loadSpecFile(join(dir, "job.yaml"), "/somewhere/else");
    expect(doc?.spec.workingDir).toBe(join(dir, "src"));
    expect(doc?.spec.checkpointDir).toBe(join(dir, "ckpt"));
    expect(doc?.spec.datasets).toEqual([
      { name: "train", path: join(dir, "data/train.csv") },
      { name: "ref", source: "s3://b/x", digest: "abc" },
    ]);
  });

  it("keeps an absolute workingDir", () => {
    const [doc] = parseSpecText("kind: Job\nname: a\nworkingDir: /opt/code\ncommand: [echo]\n", "/specs/job.yaml");
    expect(doc?.spec.workingDir).toBe("/opt/code");
  });

  it("accepts the Kubernetes shape and several documents", () => {
    const docs = parseSpecText(
      "apiVersion: paved/v1\nkind: Job\nmetadata: {name: first}\nspec:\n  command: [echo, one]\n---\nname: second\ncommand: [echo, two]\n",
      "/specs/jobs.yaml",
    );
    expect(docs.map((d) => [d.spec.name, d.spec.command, d.spec.workingDir])).toEqual([
      ["first", ["echo", "one"], "/specs"],
      ["second", ["echo", "two"], "/specs"],
    ]);
  });

  it("rejects an unknown kind and lists the known ones", () => {
    let error: unknown;
    try {
      parseSpecText("kind: Deployment\nname: x\n", "/specs/d.yaml");
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "INVALID_INPUT", details: { kind: "Deployment", knownKinds: ["Job", "Sweep", "Pipeline"] } });
  });

  it("suggests the closest kind for a typo", () => {
    expect(() => parseSpecText("kind: Jbo\nname: x\ncommand: [echo]\n", "/specs/j.yaml")).toThrow(/did you mean 'Job'\?/);
  });

  it("rejects a command written as one string", () => {
    expect(() => parseSpecText("name: x\ncommand: python3 train.py\n", "/s/j.yaml")).toThrow(expect.objectContaining({ code: "INVALID_INPUT" }));
  });

  it("reports a missing file as NOT_FOUND and bad YAML as INVALID_INPUT", async () => {
    await expect(loadSpecFile("nope.yaml", dir)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await writeFile(join(dir, "bad.yaml"), "name: [unclosed\n");
    await expect(loadSpecFile("bad.yaml", dir)).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
