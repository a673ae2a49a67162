import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { z } from "zod";
import { PlatformError, invalidInput, notFound } from "../../../core/index.ts";
import { assertAllowedHost } from "./allowed-hosts.ts";
import type { Connector, ConnectorContext, SnapshotFile, SnapshotResult } from "./connector.ts";
import { SnapshotBudget, checkAborted } from "./limits.ts";

const SECRET_NAME = z.string().regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, "the name of a team secret (`paved secrets ls`)");

export const S3Spec = z.strictObject({
  kind: z.literal("s3"),
  /** s3://bucket/prefix: every object under the prefix is read. */
  url: z
    .string()
    .max(1100)
    .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, "s3://<bucket>/<prefix>, e.g. s3://ml-data/churn/2024/"),
  /** The S3 API's base URL (http(s)://host[:port]); its host must be in datasets.connectors.allowedHosts. Default: AWS's endpoint of the region. */
  endpoint: z.url({ protocol: /^https?$/, error: "the S3 API's base URL, e.g. https://s3.eu-west-1.amazonaws.com or http://minio.internal:9000" }).optional(),
  region: z.string().regex(/^[a-z0-9-]{1,32}$/, "a region name such as us-east-1").default("us-east-1"),
  /** Team secrets holding the access key id and the secret access key (and, for temporary keys, the session token). */
  accessKeyIdSecret: SECRET_NAME,
  secretAccessKeySecret: SECRET_NAME,
  sessionTokenSecret: SECRET_NAME.optional(),
});
export type S3Spec = z.output<typeof S3Spec>;

export interface S3ConnectorOptions {
  allowedHosts: readonly string[];
  /** Seconds to connect, and to wait for an answer or the next bytes of one. */
  timeoutSeconds?: number;
}

/**
 * The objects under an S3 prefix, through the AWS SDK against an allow-listed endpoint, with the
 * team's keys. Listed first (bounded in count and bytes), then downloaded one by one, each
 * counted as it streams: an object that grows past its listed size is refused.
 */
export class S3Connector implements Connector<S3Spec> {
  readonly kind = "s3";
  readonly spec = S3Spec;

  constructor(private readonly options: S3ConnectorOptions) {}

  async snapshot(spec: S3Spec, ctx: ConnectorContext): Promise<SnapshotResult> {
    checkAborted(ctx.signal);
    const { bucket, prefix } = parseS3Url(spec.url);
    const endpoint = new URL(spec.endpoint ?? `https://s3.${spec.region}.amazonaws.com`);
    if (endpoint.username || endpoint.password || endpoint.search || endpoint.hash || (endpoint.pathname !== "/" && endpoint.pathname !== "")) {
      throw invalidInput(`endpoint '${endpoint.origin}…' must be a bare base URL (scheme, host, port), without credentials, path or query`);
    }
    const port = Number(endpoint.port || (endpoint.protocol === "https:" ? 443 : 80));
    assertAllowedHost(endpoint.hostname, port, this.options.allowedHosts, "S3 endpoint");
    const [accessKeyId, secretAccessKey, sessionToken] = await Promise.all([
      ctx.secrets.read(spec.accessKeyIdSecret),
      ctx.secrets.read(spec.secretAccessKeySecret),
      spec.sessionTokenSecret ? ctx.secrets.read(spec.sessionTokenSecret) : Promise.resolve(undefined),
    ]);
    const timeoutMs = (this.options.timeoutSeconds ?? 60) * 1000;
    const client = new S3Client({
      region: spec.region,
      endpoint: endpoint.origin,
      // Path style keeps the host exactly the allow-listed one (no bucket.host).
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) },
      maxAttempts: 3,
      requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true, socketTimeout: timeoutMs },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    const where = `s3://${bucket}/${prefix}`;
    try {
      const budget = new SnapshotBudget(ctx.limits, "name a narrower prefix");
      // Relative names are taken after the prefix's last '/': s3://b/data/train lists data/train.csv as train.csv.
      const base = prefix.slice(0, prefix.lastIndexOf("/") + 1);
      const objects: { key: string; rel: string; size: number }[] = [];
      let token: string | undefined;
      do {
        checkAborted(ctx.signal);
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }), { abortSignal: ctx.signal }).catch((error: Error) => {
          throw s3Error(error, where, spec);
        });
        for (const object of page.Contents ?? []) {
          const key = object.Key ?? "";
          // Folder markers hold nothing.
          if (key.endsWith("/") && (object.Size ?? 0) === 0) continue;
          const rel = confinedKey(key.slice(base.length), key);
          budget.addFile();
          budget.addBytes(object.Size ?? 0);
          objects.push({ key, rel, size: object.Size ?? 0 });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      if (objects.length === 0) throw notFound(`no objects under ${where}; check the bucket and prefix`);
      const files: SnapshotFile[] = [];
      let total = 0;
      for (const object of objects) {
        checkAborted(ctx.signal);
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key }), { abortSignal: ctx.signal }).catch((error: Error) => {
          throw s3Error(error, `s3://${bucket}/${object.key}`, spec);
        });
        const dest = join(ctx.scratchDir, ...object.rel.split("/"));
        await mkdir(dirname(dest), { recursive: true });
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length;
            if (bytes > object.size) return done(invalidInput(`s3://${bucket}/${object.key} grew past its listed size (${object.size} bytes) while it was read; snapshot again once it is written`));
            done(null, chunk);
          },
        });
        await pipeline(answer.Body as Readable, counter, createWriteStream(dest, { flags: "wx" }), { signal: ctx.signal });
        total += bytes;
        files.push({ path: object.rel, bytes });
      }
      return { files, source: { kind: "s3", endpoint: endpoint.host, bucket, prefix, objects: files.length, bytes: total } };
    } finally {
      client.destroy();
    }
  }
}

function parseS3Url(url: string): { bucket: string; prefix: string } {
  const rest = url.slice("s3://".length);
  const slash = rest.indexOf("/");
  return slash === -1 ? { bucket: rest, prefix: "" } : { bucket: rest.slice(0, slash), prefix: rest.slice(slash + 1) };
}

/** An object's name inside the snapshot: refused when it would land outside it. */
function confinedKey(rel: string, key: string): string {
  const segments = rel.split("/");
  if (rel === "" || rel.includes("\0") || rel.includes("\\") || segments.some((s) => s === "" || s === "." || s === "..")) {
    throw invalidInput(`object key '${key}' has an empty, '.' or '..' part (or a backslash), which cannot be a file of a dataset; rename the object or name a prefix without it`, { key });
  }
  return rel;
}

/** The SDK's error as a platform error: never the keys, never the SDK's request details. */
function s3Error(error: Error, where: string, spec: S3Spec): PlatformError {
  if (error instanceof PlatformError) return error;
  const name = (error as { name?: string }).name ?? "Error";
  if (name === "AbortError") return new PlatformError("UNAVAILABLE", "the snapshot was cancelled or ran past datasets.connectors.limits.timeoutSeconds; nothing was kept");
  if (name === "NoSuchBucket" || name === "NoSuchKey" || name === "NotFound") return notFound(`${where} does not exist; check the bucket and prefix`);
  if (name === "AccessDenied" || name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch" || name === "Forbidden") {
    return new PlatformError("FORBIDDEN", `the S3 endpoint refused ${where} (${name}); check the keys in secrets '${spec.accessKeyIdSecret}' and '${spec.secretAccessKeySecret}' and what they may read`);
  }
  return new PlatformError("UNAVAILABLE", `reading ${where} failed (${name}: ${error.message.slice(0, 200)}); check the endpoint and try again`);
}
