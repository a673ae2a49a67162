import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfig } from "./config.ts";

const withFile = (config: unknown) => {
  const file = join(mkdtempSync(join(tmpdir(), "paved-config-")), "paved.yaml");
  writeFileSync(file, stringify(config));
  return () => loadConfig({ env: {}, file });
};
const problemPaths = (load: () => unknown) => {
  try {
    load();
  } catch (error) {
    expect(error).toMatchObject({ code: "CONFIG" });
    return ((error as { details?: { problems?: { path: string }[] } }).details?.problems ?? []).map((p) => p.path);
  }
  throw new Error("the configuration was accepted");
};

describe("artifacts configuration", () => {
  it("keeps blobs in the local folder unless told otherwise", () => {
    expect(loadConfig({ env: {} }).artifacts).toMatchObject({ store: "local" });
  });

  it("fills the S3 settings' defaults", () => {
    const config = withFile({ artifacts: { store: "s3", s3: { bucket: "ml-artifacts" } } })();
    expect(config.artifacts.s3).toMatchObject({ bucket: "ml-artifacts", prefix: "", region: "us-east-1", forcePathStyle: false, credentials: { source: "environment" }, partSizeBytes: 8 * 1024 ** 2 });
  });

  it("refuses store s3 without its settings, bad names, and limits S3 cannot take", () => {
    expect(problemPaths(withFile({ artifacts: { store: "s3" } }))).toEqual(["artifacts.s3"]);
    expect(problemPaths(withFile({ artifacts: { store: "gcs" } }))).toEqual(["artifacts.store"]);
    expect(
      problemPaths(withFile({ artifacts: { store: "s3", s3: { bucket: "Bad_Bucket", prefix: "/x", partSizeBytes: 1024, endpoint: "not a url" } } })).sort(),
    ).toEqual(["artifacts.s3.bucket", "artifacts.s3.endpoint", "artifacts.s3.partSizeBytes", "artifacts.s3.prefix"]);
    // 10,000 parts of 8 MiB: 78 GiB at most, unless the parts grow.
    expect(problemPaths(withFile({ artifacts: { store: "s3", maxUploadBytes: 100 * 1024 ** 3, s3: { bucket: "ml-artifacts" } } }))).toEqual(["artifacts.maxUploadBytes"]);
    expect(withFile({ artifacts: { store: "s3", maxUploadBytes: 100 * 1024 ** 3, s3: { bucket: "ml-artifacts", partSizeBytes: 16 * 1024 ** 2 } } })().artifacts.maxUploadBytes).toBe(100 * 1024 ** 3);
    expect(problemPaths(withFile({ artifacts: { store: "s3", s3: { bucket: "ml-artifacts", credentials: { source: "vault" } } } }))).toEqual(["artifacts.s3.credentials.source"]);
  });

  it("refuses S3 keys written into the config file, saying where they belong", () => {
    for (const s3 of [
      { bucket: "ml-artifacts", credentials: { accessKeyId: "AKIA", secretAccessKey: "secret" } },
      { bucket: "ml-artifacts", secretAccessKey: "secret" },
    ]) {
      const load = withFile({ artifacts: { store: "s3", s3 } });
      expect(load).toThrow(/plain text.*source: environment.*source: file/);
    }
  });
});
