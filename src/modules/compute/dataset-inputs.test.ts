import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { jobSpecSchema } from "./schema.ts";
import { inputVariable, materializeInputs, pinDatasets, removeInputs, type JobDatasets } from "./dataset-inputs.ts";

/**
 * A stand-in for the datasets module (tested against the real one in test/dataset-inputs.test.ts):
 * one dataset `churn` with version 1 (alias prod) of two files held in memory.
 */
function datasets(): JobDatasets & { opened: string[] } {
  const blobs: Record<string, string> = { aaa: "f0,label\n1,0\n", bbb: "nested\n" };
  const opened: string[] = [];
  return {
    opened,
    async resolve(team, ref) {
      if (team !== "team-a" || !/^datasets:\/churn@(1|prod)$/.test(ref)) throw Object.assign(new Error(`${ref} does not exist`), { code: "NOT_FOUND" });
      return { ref: "datasets:/churn@1", digest: "sha256:v1", files: [{ path: "train.csv", digest: "aaa", size: 12 }, { path: "extra/notes.txt", digest: "bbb", size: 7 }] };
    },
    async open(digest) {
      opened.push(digest);
      return Readable.from([Buffer.from(blobs[digest]!)]);
    },
  };
}
const spec = (datasetsList: unknown[]) => jobSpecSchema.parse({ name: "j", workingDir: "/tmp", command: ["true"], datasets: datasetsList });

describe("a job's registered dataset inputs", () => {
  it("pins an alias at submit and records the version's digest for the run", async () => {
    const { spec: pinned, inputs } = await pinDatasets(spec([{ name: "train", dataset: "datasets:/churn@prod" }, { name: "raw", path: "data.csv" }]), "team-a", datasets(), "local");
    expect(pinned.datasets).toEqual([{ name: "train", dataset: "datasets:/churn@1" }, { name: "raw", path: "data.csv" }]);
    expect(inputs).toEqual([{ name: "train", digest: "sha256:v1", sourceType: "paved", source: "datasets:/churn@1" }]);
  });

  it("refuses them where the job's machine does not share the server's files, and without a datasets module", async () => {
    const one = spec([{ name: "train", dataset: "datasets:/churn@1" }]);
    await expect(pinDatasets(one, "team-a", datasets(), "kubernetes")).rejects.toMatchObject({ code: "UNSUPPORTED" });
    await expect(pinDatasets(one, "team-a", undefined, "local")).rejects.toMatchObject({ code: "UNSUPPORTED" });
    expect(() => spec([{ name: "train", dataset: "s3://bucket/x" }])).toThrow();
  });

  it("writes them read-only once per attempt, writes a half-written one again, and removes them", async () => {
    const jobDir = mkdtempSync(join(tmpdir(), "paved-job-inputs-"));
    const source = datasets();
    const one = spec([{ name: "train", dataset: "datasets:/churn@1" }]);
    const env = await materializeInputs(one, "team-a", jobDir, source);
    const dir = env[inputVariable("train")]!;
    expect(env).toEqual({ PAVED_INPUTS_DIR: join(jobDir, "inputs"), PAVED_DATASET_TRAIN: join(jobDir, "inputs", "train") });
    expect(readFileSync(join(dir, "extra", "notes.txt"), "utf8")).toBe("nested\n");
    expect(statSync(join(dir, "train.csv")).mode & 0o777).toBe(0o444);
    expect(statSync(join(dir, "extra")).mode & 0o777).toBe(0o555);
    // A second attempt finds it whole: nothing is read again.
    await materializeInputs(one, "team-a", jobDir, source);
    expect(source.opened).toEqual(["aaa", "bbb"]);
    // A crash left a half-written copy (no marker, a read-only stray folder): it is written again.
    chmodSync(join(jobDir, "inputs"), 0o755);
    const marker = join(jobDir, "inputs", ".train.done");
    writeFileSync(marker, "datasets:/churn@0");
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, "stray"));
    chmodSync(dir, 0o555);
    await materializeInputs(one, "team-a", jobDir, source);
    expect(existsSync(join(dir, "stray"))).toBe(false);
    expect(readFileSync(join(dir, "train.csv"), "utf8")).toBe("f0,label\n1,0\n");
    await removeInputs(jobDir);
    expect(existsSync(join(jobDir, "inputs"))).toBe(false);
  });
});
