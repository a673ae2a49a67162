import { readFileSync } from "node:fs";
import { S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { parse as parseYaml } from "yaml";
import { PlatformError } from "../../core/index.ts";
import { S3ArtifactStore } from "./s3-artifact-store.ts";

/** Where the S3 keys come from; never the configuration file itself. */
export type S3CredentialSource = { source: "environment" } | { source: "file"; path: string } | { source: "aws-sdk" };

/** The `artifacts.s3` settings (docs/artifacts.md). */
export interface S3Settings {
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string | undefined;
  publicEndpoint?: string | undefined;
  forcePathStyle: boolean;
  credentials: S3CredentialSource;
  partSizeBytes: number;
  presignSeconds: number;
  connectTimeoutSeconds: number;
  requestTimeoutSeconds: number;
}

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Builds the S3 store from settings; `env` is the server's environment (read only for `source: environment`). */
export function createS3ArtifactStore(settings: S3Settings, env: Record<string, string | undefined>): S3ArtifactStore {
  const credentials = s3Keys(settings.credentials, env);
  const client = new S3Client(clientConfig(settings, settings.endpoint, credentials));
  const presignClient = settings.publicEndpoint ? new S3Client(clientConfig(settings, settings.publicEndpoint, credentials)) : undefined;
  return new S3ArtifactStore({
    client,
    bucket: settings.bucket,
    prefix: settings.prefix,
    partSizeBytes: settings.partSizeBytes,
    presignSeconds: settings.presignSeconds,
    ...(presignClient ? { presignClient } : {}),
  });
}

function clientConfig(settings: S3Settings, endpoint: string | undefined, credentials: Keys | undefined): S3ClientConfig {
  return {
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    ...(endpoint ? { endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: 3,
    // Bounded waits: a blackholed endpoint fails the request instead of holding it open. The request
    // timeout runs until the answer's headers (one part of an upload, not the whole file; without
    // throwOnRequestTimeout the SDK only logs it); the socket timeout cuts a download that stalls.
    requestHandler: {
      connectionTimeout: settings.connectTimeoutSeconds * 1000,
      requestTimeout: settings.requestTimeoutSeconds * 1000,
      throwOnRequestTimeout: true,
      socketTimeout: settings.requestTimeoutSeconds * 1000,
    },
    // S3-compatible servers (older MinIO, Ceph, s3rver) refuse the CRC trailers AWS's own S3 takes.
    ...(endpoint ? { requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" } : {}),
  };
}

/** The keys for `source`, or undefined for the AWS SDK's own chain (instance roles, IRSA, ~/.aws). */
export function s3Keys(source: S3CredentialSource, env: Record<string, string | undefined>): Keys | undefined {
  switch (source.source) {
    case "aws-sdk":
      return undefined;
    case "environment": {
      const accessKeyId = env.AWS_ACCESS_KEY_ID;
      const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
      if (!accessKeyId || !secretAccessKey) {
        throw new PlatformError(
          "CONFIG",
          "artifacts.s3.credentials.source is environment, but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set; set both in paved up's environment, or use source: file (a secret file) or source: aws-sdk (instance roles, IRSA)",
        );
      }
      return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
    }
    case "file": {
      let value: unknown;
      try {
        value = parseYaml(readFileSync(source.path, "utf8"));
      } catch {
        throw new PlatformError("CONFIG", `cannot read the S3 credentials file '${source.path}' (artifacts.s3.credentials.path); check the path and that paved up may read it`);
      }
      const keys = value as Partial<Record<keyof Keys, unknown>> | null;
      if (!keys || typeof keys.accessKeyId !== "string" || typeof keys.secretAccessKey !== "string" || (keys.sessionToken !== undefined && typeof keys.sessionToken !== "string")) {
        throw new PlatformError("CONFIG", `the S3 credentials file '${source.path}' must be YAML or JSON with accessKeyId and secretAccessKey (and optionally sessionToken)`);
      }
      return { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, ...(typeof keys.sessionToken === "string" ? { sessionToken: keys.sessionToken } : {}) };
    }
  }
}
