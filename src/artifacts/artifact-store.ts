import type { Readable } from "node:stream";

/** A stored blob, named by the SHA-256 of its bytes. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** One part of a direct upload: the URL the client PUTs the part's bytes to, with these headers. */
export interface DirectUploadPart {
  partNumber: number;
  url: string;
  headers: Record<string, string>;
}

/** A multipart upload the client sends straight to the object store, part by part. */
export interface DirectUpload {
  /** Opaque: names the upload (and where its parts wait) to `completeDirectUpload` and `abortDirectUpload`. */
  uploadId: string;
  parts: DirectUploadPart[];
}

/** A part the client says it uploaded: its number and the ETag the store answered its PUT with. */
export interface UploadedPart {
  partNumber: number;
  etag: string;
}

/**
 * Content-addressed blob storage. Which run path points at which blob is metadata, kept by the
 * tracking module; a store only holds bytes. A store that cannot reach its backend fails with
 * UNAVAILABLE, and a failed `put` never leaves a blob under a digest.
 */
export interface ArtifactStore {
  readonly kind: string;
  /** Streams `body` in, hashing as it goes; fails with PAYLOAD_TOO_LARGE past `maxBytes`. */
  put(body: Readable | Buffer, opts: { maxBytes: number }): Promise<BlobInfo>;
  /** A stream of the blob's bytes; NOT_FOUND when absent. */
  get(digest: string): Promise<Readable>;
  has(digest: string): Promise<boolean>;
  /**
   * A time-limited URL the client downloads the blob from directly (S3's presigned GET), without
   * the bytes passing through Paved. Absent on stores that cannot hand one out (the local folder).
   */
  downloadUrl?(digest: string, opts: { fileName: string; expiresInSeconds?: number }): Promise<string>;
  /**
   * Starts a direct upload of `parts` parts (1 to 10,000): presigned URLs the client PUTs each
   * part to, without the bytes passing through Paved. `scope` binds the upload to what it is for
   * (a run's file): completing or aborting it under another scope finds no upload. Absent on
   * stores that take bytes only through Paved (the local folder).
   */
  createDirectUpload?(opts: { scope: string; parts: number; expiresInSeconds?: number }): Promise<DirectUpload>;
  /**
   * Assembles the parts, reads the object once to name it by content, and answers the blob. Parts
   * are checked first (each uploaded, ETags matching, all but the last at least 5 MiB, the whole
   * within `maxBytes`: INVALID_INPUT / PAYLOAD_TOO_LARGE, the upload left open to fix). `admit`
   * is told the assembled size before anything is named; when it throws, the object is deleted and
   * its error answered. NOT_FOUND for an upload that is unknown (completed, aborted, another scope).
   */
  completeDirectUpload?(uploadId: string, opts: { scope: string; parts: UploadedPart[]; maxBytes: number; admit?: (size: number) => Promise<void> }): Promise<BlobInfo>;
  /** Drops the upload and every part sent; aborting one that is gone already succeeds. */
  abortDirectUpload?(uploadId: string, opts: { scope: string }): Promise<void>;
  /**
   * Where the blob's bytes lie on this machine, for engines that read files in place (DuckDB);
   * undefined when absent. Only stores on local disk have it; others are copied out with `get`.
   */
  localPath?(digest: string): Promise<string | undefined>;
  /** The folder every `localPath` lies under (what such an engine is confined to). */
  readonly localRoot?: string;
  /**
   * Removes a blob nothing references any more (run garbage collection), unless it was written in
   * the last `minAgeMs` (real time, as the store sees it): an upload of the same bytes may be about
   * to reference it. Absent on stores that cannot delete; their blobs are kept.
   */
  remove?(digest: string, opts: { minAgeMs: number }): Promise<"removed" | "absent" | "recent">;
  /** Lets go of connections (the S3 client's sockets); a store without any has none. */
  close?(): void;
}
