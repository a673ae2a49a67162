import type { Readable } from "node:stream";

/** A stored blob, named by the SHA-256 of its bytes. */
export interface BlobInfo {
  digest: string;
  size: number;
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
   * Where the blob's bytes lie on this machine, for engines that read files in place (DuckDB);
   * undefined when absent. Only stores on local disk have it; others are copied out with `get`.
   */
  localPath?(digest: string): Promise<string | undefined>;
  /** The folder every `localPath` lies under (what such an engine is confined to). */
  readonly localRoot?: string;
  /** Lets go of connections (the S3 client's sockets); a store without any has none. */
  close?(): void;
}
