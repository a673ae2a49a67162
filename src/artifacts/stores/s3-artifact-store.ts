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
  ListMultipartUploadsCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type Part,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { PlatformError, invalidInput, notFound } from "../../core/index.ts";
import type { ArtifactStore, BlobInfo, DirectUpload, UploadedPart } from "../artifact-store.ts";

const DIGEST = /^[0-9a-f]{64}$/;
/** S3's largest single CopyObject; a larger upload is moved to its digest key by a multipart copy. */
const SINGLE_COPY_LIMIT_BYTES = 5 * 1024 ** 3;
/** S3's largest object. */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;
/** S3's most parts in one multipart upload. */
export const S3_MAX_PARTS = 10_000;
/** S3's smallest part of a multipart upload (but the last). */
export const S3_MIN_PART_BYTES = 5 * 1024 ** 2;
const MIN_PART_BYTES = S3_MIN_PART_BYTES;
/** A direct upload's id: the random name of its temporary key, then S3's UploadId (base64url). */
const DIRECT_UPLOAD_ID = /^([0-9a-f]{24})\.([A-Za-z0-9_-]{1,1400})$/;

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
      // Content-addressed: if a concurrent put of the same bytes placed the object meanwhile (an
      // emulator such as s3rver fails racing copies to one key), this put is done as well.
      const placed = !(error instanceof PlatformError) && (await this.holds(key, size));
      await this.deleteQuietly(tmpKey);
      if (!placed) throw this.unavailable(error, "storing an artifact");
    }
    await this.deleteQuietly(tmpKey);
    return { digest, size };
  }

  /** Whether the key holds an object of this size; false on any failure to tell. */
  private async holds(key: string, size: number): Promise<boolean> {
    try {
      return (await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))).ContentLength === size;
    } catch {
      return false;
    }
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

  async createDirectUpload({ scope, parts, expiresInSeconds }: { scope: string; parts: number; expiresInSeconds?: number }): Promise<DirectUpload> {
    if (!Number.isSafeInteger(parts) || parts < 1 || parts > S3_MAX_PARTS) {
      throw invalidInput(`num_parts must be an integer from 1 to ${S3_MAX_PARTS} (S3's most parts in one upload); got ${parts}. Use parts of at least 5 MiB (MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE)`);
    }
    const name = randomBytes(12).toString("hex");
    const key = this.directKey(scope, name);
    let uploadId: string;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ContentType: "application/octet-stream" }));
      uploadId = created.UploadId!;
    } catch (error) {
      throw this.unavailable(error, "starting a direct upload");
    }
    const signer = this.options.presignClient ?? this.client;
    const expiresIn = expiresInSeconds ?? this.options.presignSeconds ?? 900;
    const urls: DirectUpload["parts"] = [];
    // Signing is local arithmetic: no request reaches S3 here.
    for (let partNumber = 1; partNumber <= parts; partNumber++) {
      const url = await getSignedUrl(signer, new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }), { expiresIn });
      urls.push({ partNumber, url, headers: {} });
    }
    return { uploadId: `${name}.${Buffer.from(uploadId).toString("base64url")}`, parts: urls };
  }

  async completeDirectUpload(
    id: string,
    { scope, parts, maxBytes, admit }: { scope: string; parts: UploadedPart[]; maxBytes: number; admit?: (size: number) => Promise<void> },
  ): Promise<BlobInfo> {
    const { key, uploadId } = await this.directUpload(id, scope);
    const listed = await this.uploadedParts(key, uploadId);
    const chosen = checkParts(parts, listed, Math.min(maxBytes, S3_MAX_OBJECT_BYTES));
    try {
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: chosen } }));
    } catch (error) {
      const cause = causeOf(error);
      if (cause === "NoSuchUpload") throw missingUpload();
      if (cause === "InvalidPart" || cause === "InvalidPartOrder" || cause === "EntityTooSmall") {
        throw invalidInput(`the object store refused the parts (${cause}); send each part's number with the ETag its PUT answered, in order, every part but the last at least 5 MiB`);
      }
      throw this.unavailable(error, "completing a direct upload");
    }
    // From here the parts are one object at the temporary key: whatever fails, it is removed.
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const size = head.ContentLength ?? 0;
      if (size > maxBytes) throw new PlatformError("PAYLOAD_TOO_LARGE", `the upload is ${size} bytes, over the ${maxBytes}-byte limit; split it or raise artifacts.maxUploadBytes`);
      await admit?.(size);
      // Named by content, as every blob is: Paved reads the object once (store to Paved, not the client's bytes).
      const hash = createHash("sha256");
      let read = 0;
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      for await (const chunk of answer.Body as Readable) {
        read += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      if (read !== size) {
        throw new PlatformError("UNAVAILABLE", `the S3 artifact store answered ${read} bytes of an object of ${size}; retry, and an operator should check the object store`, { store: "s3", cause: "SizeMismatch" });
      }
      const digest = hash.digest("hex");
      if (!(await this.has(digest))) await this.copyIntoPlace(key, this.keyOf(digest), size);
      return { digest, size };
    } catch (error) {
      throw this.unavailable(error, "storing a direct upload");
    } finally {
      await this.deleteQuietly(key);
    }
  }

  async abortDirectUpload(id: string, { scope }: { scope: string }): Promise<void> {
    const { key, uploadId, open } = await this.directUpload(id, scope, { gone: "ok" });
    try {
      if (open) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (error) {
      if (causeOf(error) !== "NoSuchUpload" && !isMissing(error)) throw this.unavailable(error, "aborting a direct upload");
    }
    // An upload completed whose storing then failed leaves an object here; an abort leaves nothing.
    await this.deleteQuietly(key);
  }

  /** The parts S3 holds for an upload, by number (ListParts, a page of 1,000 at a time). */
  private async uploadedParts(key: string, uploadId: string): Promise<Map<number, { etag: string; size: number }>> {
    const parts = new Map<number, { etag: string; size: number }>();
    let marker: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, ...(marker ? { PartNumberMarker: marker } : {}) }));
        for (const p of page.Parts ?? []) parts.set(p.PartNumber!, { etag: unquote(p.ETag ?? ""), size: p.Size ?? 0 });
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (error) {
      if (causeOf(error) === "NoSuchUpload" || isMissing(error)) throw missingUpload();
      throw this.unavailable(error, "listing a direct upload's parts");
    }
    return parts;
  }

  /**
   * The temporary key and S3 UploadId an upload id names. The key depends on the scope, and the
   * upload must be one open at that key (S3 checks that too; some emulators do not), so an upload
   * id used under another path finds nothing.
   */
  private async directUpload(id: string, scope: string, opts: { gone?: "ok" } = {}): Promise<{ key: string; uploadId: string; open: boolean }> {
    const match = DIRECT_UPLOAD_ID.exec(typeof id === "string" ? id : "");
    if (!match) throw invalidInput("upload_id is not one this server handed out; pass the upload_id mpu/create answered, unchanged");
    const key = this.directKey(scope, match[1]!);
    const uploadId = Buffer.from(match[2]!, "base64url").toString("utf8");
    let open: boolean;
    try {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: key }));
      open = (page.Uploads ?? []).some((u) => u.Key === key && u.UploadId === uploadId);
    } catch (error) {
      throw this.unavailable(error, "looking up a direct upload");
    }
    if (!open && opts.gone !== "ok") throw missingUpload();
    return { key, uploadId, open };
  }

  private directKey(scope: string, name: string): string {
    return `${this.prefix}tmp/direct/${createHash("sha256").update(scope).digest("hex").slice(0, 32)}/${name}`;
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

  /** HEAD for the object's age, then DELETE (S3 has no atomic "delete if older than"; the age check narrows the window). */
  async remove(digest: string, { minAgeMs }: { minAgeMs: number }): Promise<"removed" | "absent" | "recent"> {
    const key = this.keyOf(digest);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      if (head.LastModified && Date.now() - head.LastModified.getTime() < minAgeMs) return "recent";
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return "removed";
    } catch (error) {
      if (isMissing(error)) return "absent";
      throw this.unavailable(error, "removing an artifact");
    }
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

function missingUpload(): PlatformError {
  return notFound("no such upload for this path: it was completed or aborted, it expired, or its upload_id belongs to another path; start again with mpu/create");
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, "");
}

/**
 * The parts to assemble, checked against what S3 holds: numbers from 1 up, each once and in order,
 * each uploaded with that ETag, every part but the last at least 5 MiB, the whole within `limit`.
 */
function checkParts(parts: UploadedPart[], listed: Map<number, { etag: string; size: number }>, limit: number): Part[] {
  if (parts.length === 0) throw invalidInput("parts is empty; send every part's part_number with the ETag its PUT answered");
  if (parts.length > S3_MAX_PARTS) throw invalidInput(`${parts.length} parts; an upload has at most ${S3_MAX_PARTS}`);
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  let total = 0;
  sorted.forEach((part, index) => {
    const { partNumber } = part;
    if (!Number.isSafeInteger(partNumber) || partNumber < 1 || partNumber > S3_MAX_PARTS) {
      throw invalidInput(`part_number ${partNumber} is out of range; part numbers run from 1 to ${S3_MAX_PARTS}, as mpu/create handed them out`);
    }
    if (index > 0 && sorted[index - 1]!.partNumber === partNumber) throw invalidInput(`part_number ${partNumber} is listed twice; send each part once`);
    const held = listed.get(partNumber);
    if (!held) throw invalidInput(`part ${partNumber} was not uploaded; PUT its bytes to its URL from mpu/create first`);
    if (unquote(part.etag ?? "") !== held.etag) throw invalidInput(`part ${partNumber}'s etag does not match the part the store holds; send the ETag header its PUT answered`);
    if (index < sorted.length - 1 && held.size < MIN_PART_BYTES) {
      throw invalidInput(`part ${partNumber} is ${held.size} bytes; every part but the last must be at least ${MIN_PART_BYTES} bytes (5 MiB): upload it again larger, or use fewer parts`);
    }
    total += held.size;
  });
  if (total > limit) throw new PlatformError("PAYLOAD_TOO_LARGE", `the parts add up to ${total} bytes, over the ${limit}-byte limit; abort the upload and split the file, or raise artifacts.maxUploadBytes`);
  return sorted.map((p) => ({ PartNumber: p.partNumber, ETag: `"${listed.get(p.partNumber)!.etag}"` }));
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
