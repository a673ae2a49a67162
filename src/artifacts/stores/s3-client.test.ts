import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { s3Keys } from "./s3-client.ts";

describe("S3 credentials", () => {
  it("come from AWS_* variables of the server's environment", () => {
    expect(s3Keys({ source: "environment" }, { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "token" })).toEqual({
      accessKeyId: "id",
      secretAccessKey: "secret",
      sessionToken: "token",
    });
    expect(() => s3Keys({ source: "environment" }, { AWS_ACCESS_KEY_ID: "id" })).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });

  it("come from a secret file (YAML or JSON), refused clearly when unreadable or incomplete", () => {
    const dir = mkdtempSync(join(tmpdir(), "paved-s3-keys-"));
    writeFileSync(join(dir, "keys.json"), JSON.stringify({ accessKeyId: "id", secretAccessKey: "secret" }));
    writeFileSync(join(dir, "partial.yaml"), "accessKeyId: id\n");
    expect(s3Keys({ source: "file", path: join(dir, "keys.json") }, {})).toEqual({ accessKeyId: "id", secretAccessKey: "secret" });
    expect(() => s3Keys({ source: "file", path: join(dir, "partial.yaml") }, {})).toThrow(expect.objectContaining({ code: "CONFIG" }));
    expect(() => s3Keys({ source: "file", path: join(dir, "missing.yaml") }, {})).toThrow(expect.objectContaining({ code: "CONFIG" }));
  });

  it("are left to the AWS SDK's own chain (instance roles, IRSA) when asked", () => {
    expect(s3Keys({ source: "aws-sdk" }, { AWS_ACCESS_KEY_ID: "ignored" })).toBeUndefined();
  });
});
