import { createHash, randomBytes } from "node:crypto";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { PlatformError, notFound } from "../../core/index.ts";
import type { ArtifactStore, BlobInfo } from "../artifact-store.ts";

const DIGEST = /^[0-9a-f]{64}$/;
/** S3's largest single CopyObject; a larger upload is moved to its digest key by a multipart copy. */
const SINGLE_COPY_LIMIT_BYTES = 5 * 1024 ** 3;
/** S3's largest object. */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;
/** S3's most parts in one multipart upload. */
export const S3_MAX_PARTS = 10_000;
/** S3's smallest part of a multipart upload (but the last). */
const MIN_PART_BYTES = 5 * 1024 ** 2;

export interface S3ArtifactStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix every object of this store goes under ("" or ending in "/"). */
  prefix?: string;
  /** Bytes per part of a multipart upload (S3's minimum is 5 MiB); smaller bodies go up in one PutObject. */
  partSizeBytes?: number;
  /** Parts uploaded at once; memory held per upload is about partSizeBytes × this. */
  queueSize?: number;
  /** Signs download URLs; a client for the endpoint users reach when it differs from Paved's (artifacts.s3.publicEndpoint). */
  presignClient?: S3Client;
  /** How long a presigned download URL stays valid, in seconds. */
  presignSeconds?: number;
  /** Above this size the move to the digest key is a multipart copy (UploadPartCopy); S3's CopyObject stops at 5 GiB. */
  singleCopyLimitBytes?: number;
  /** Bytes per part of that multipart copy. */
  copyPartBytes?: number;
}

/**
 * Blobs at `<prefix>sha256/ab/cdef…` in one bucket. An upload streams, hashed as it goes, to a
 * temporary key (`<prefix>tmp/<random>`, multipart past one part), and only once it is complete
 * and its digest known is it copied server-side to the digest key and the temporary deleted: an
 * object under a digest key is always whole, whatever fails or is aborted on the way. Same
 * content put twice at once writes the same bytes to the same key, so either copy may win.
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = "s3";
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(private readonly options: S3ArtifactStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? "";
    if (options.partSizeBytes !== undefined && options.partSizeBytes < MIN_PART_BYTES) {
      throw new PlatformError("CONFIG", `artifacts.s3.partSizeBytes must be at least ${MIN_PART_BYTES} (S3's smallest part)`);
    }
  }

  async put(body: Readable | Buffer, { maxBytes }: { maxBytes: number }): Promise<BlobInfo> {
    const partSize = Math.max(this.options.partSizeBytes ?? 8 * 1024 ** 2, MIN_PART_BYTES);
    // A multipart upload has at most 10,000 parts; the configuration keeps maxUploadBytes under that, this is the backstop.
    const limit = Math.min(maxBytes, partSize * S3_MAX_PARTS, S3_MAX_OBJECT_BYTES);
    const tooLarge = () =>
      limit < maxBytes
        ? new PlatformError("PAYLOAD_TOO_LARGE", `artifact exceeds the S3 artifact store's ${limit}-byte limit (${S3_MAX_PARTS} parts of artifacts.s3.partSizeBytes); split it or raise partSizeBytes`)
        : new PlatformError("PAYLOAD_TOO_LARGE", `artifact exceeds the ${maxBytes}-byte limit; split it or raise artifacts.maxUploadBytes`);
    const hash = createHash("sha256");
    let size = 0;
    // The body's own failure (too large, the client gone), as opposed to the object store's.
    let bodyFault: unknown;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > limit) {
          bodyFault = tooLarge();
          done(bodyFault as Error);
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    // Only an error thrown by the source itself lands here; a stop from downstream ends the loop quietly.
    const guarded = async function* () {
      try {
        for await (const chunk of source) yield chunk as Buffer;
      } catch (error) {
        bodyFault ??= error;
        throw error;
      }
    };
    const tmpKey = `${this.prefix}tmp/${randomBytes(12).toString("hex")}`;
    const pass = new PassThrough();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: tmpKey, Body: pass, ContentType: "application/octet-stream" },
      partSize,
      queueSize: this.options.queueSize ?? 2,
      // A failed multipart upload is aborted, so its parts do not linger (and bill) in the bucket.
      leavePartsOnError: false,
    });
    const [fed, uploaded] = await Promise.allSettled([
      pipeline(guarded, meter, pass).catch((error: unknown) => {
        if (bodyFault) void upload.abort().catch(() => undefined);
        throw error;
      }),
      upload.done().catch((error: unknown) => {
        // The feed would otherwise wait forever on a full buffer nobody reads.
        pass.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }),
    ]);
    if (fed.status === "rejected" || uploaded.status === "rejected") {
      // A single-part upload may have landed before the feed failed: remove it (best effort; tmp/ is disposable).
      await this.deleteQuietly(tmpKey);
      if (bodyFault) throw bodyFault;
      throw this.unavailable(uploaded.status === "rejected" ? uploaded.reason : (fed as PromiseRejectedResult).reason, "uploading an artifact");
    }
    const digest = hash.digest("hex");
    const key = this.keyOf(digest);
    try {
      if (!(await this.has(digest))) {
        // Against S3-compatible servers the SDK sends no checksums (see s3-client.ts): at least the size must hold.
        const stored = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: tmpKey }));
        if (stored.ContentLength !== size) {
          throw new PlatformError("UNAVAILABLE", `the S3 artifact store kept ${stored.ContentLength ?? "no"} bytes of an upload of ${size}; retry, and an operator should check the object store`, {
            store: "s3",
            cause: "SizeMismatch",
          });
        }
        await this.copyIntoPlace(tmpKey, key, size);
      }
    } catch (error) {
      await this.deleteQuietly(tmpKey);
      throw this.unavailable(error, "storing an artifact");
    }
    await this.deleteQuietly(tmpKey);
    return { digest, size };
  }

  /**
   * Copies the finished upload to its digest key inside the bucket: one CopyObject, or past S3's
   * 5 GiB copy limit a multipart copy, whose completion makes the object in one step as well (and
   * which is aborted on failure, so no parts linger).
   */
  private async copyIntoPlace(from: string, to: string, size: number): Promise<void> {
    const source = `${encodeURIComponent(this.bucket)}/${from.split("/").map(encodeURIComponent).join("/")}`;
    if (size <= (this.options.singleCopyLimitBytes ?? SINGLE_COPY_LIMIT_BYTES)) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: to, CopySource: source }));
      return;
    }
    const partBytes = Math.max(this.options.copyPartBytes ?? 512 * 1024 ** 2, MIN_PART_BYTES, Math.ceil(size / S3_MAX_PARTS));
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: to, ContentType: "application/octet-stream" }));
    try {
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let start = 0, number = 1; start < size; start += partBytes, number++) {
        const end = Math.min(start + partBytes, size) - 1;
        const answer = await this.client.send(
          new UploadPartCopyCommand({ Bucket: this.bucket, Key: to, UploadId, PartNumber: number, CopySource: source, CopySourceRange: `bytes=${start}-${end}` }),
        );
        parts.push({ PartNumber: number, ETag: answer.CopyPartResult!.ETag! });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (error) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: to, UploadId })).catch(() => undefined);
      throw error;
    }
  }

  async get(digest: string): Promise<Readable> {
    const key = this.keyOf(digest);
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return answer.Body as Readable;
    } catch (error) {
      if (isMissing(error)) throw notFound(`blob ${digest} is not in the artifact store`);
      throw this.unavailable(error, "reading an artifact");
    }
  }

  async has(digest: string): Promise<boolean> {
    if (!DIGEST.test(digest)) return false;
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keyOf(digest) }));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw this.unavailable(error, "looking up an artifact");
    }
  }

  async downloadUrl(digest: string, { fileName, expiresInSeconds }: { fileName: string; expiresInSeconds?: number }): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.keyOf(digest),
      ResponseContentDisposition: `attachment; filename="${fileName.replace(/["\\\r\n]/g, "_")}"`,
      ResponseContentType: "application/octet-stream",
    });
    // Signing is local arithmetic: no request reaches S3 here.
    return getSignedUrl(this.options.presignClient ?? this.client, command, { expiresIn: expiresInSeconds ?? this.options.presignSeconds ?? 900 });
  }

  close(): void {
    this.client.destroy();
    this.options.presignClient?.destroy();
  }

  private keyOf(digest: string): string {
    if (!DIGEST.test(digest)) throw notFound(`'${digest}' is not a sha256 digest`);
    return `${this.prefix}sha256/${digest.slice(0, 2)}/${digest.slice(2)}`;
  }

  private async deleteQuietly(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch {
      // Left under tmp/, never under a digest key; a lifecycle rule on tmp/ sweeps it (docs/artifacts.md).
    }
  }

  /** Any failure of the object store, as UNAVAILABLE: what went wrong and who can fix it, without endpoints or keys. */
  private unavailable(error: unknown, doing: string): PlatformError {
    if (error instanceof PlatformError) return error;
    const cause = causeOf(error);
    const why =
      cause === "NoSuchBucket"
        ? "its bucket does not exist; an operator should create it or fix artifacts.s3.bucket"
        : ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "CredentialsProviderError"].includes(cause)
          ? `it refused Paved's credentials (${cause}); an operator should check artifacts.s3.credentials`
          : `it did not answer (${cause}); retry later, and an operator should check that the object store at artifacts.s3.endpoint is up`;
    return new PlatformError("UNAVAILABLE", `the S3 artifact store failed while ${doing}: ${why}`, { store: "s3", cause });
  }
}

function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || (e?.$metadata?.httpStatusCode === 404 && e?.name !== "NoSuchBucket");
}

/** A short, stable name for what failed: S3's error code, the socket's errno code, or the error's name. */
function causeOf(error: unknown): string {
  const e = error as { name?: string; code?: string; Code?: string; cause?: unknown; errors?: unknown[]; $metadata?: { httpStatusCode?: number } };
  if (!e || typeof e !== "object") return String(error);
  if (typeof e.code === "string") return e.code;
  const nested = (e.errors?.[0] ?? e.cause) as { code?: string } | undefined;
  if (nested && typeof nested.code === "string") return nested.code;
  if (typeof e.Code === "string") return e.Code;
  if (e.name && e.name !== "Error") return e.name;
  return e.$metadata?.httpStatusCode ? `HTTP ${e.$metadata.httpStatusCode}` : "unknown error";
}
