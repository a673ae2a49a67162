import type { Readable } from "node:stream";

/** A stored blob, named by the SHA-256 of its bytes. */
export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * Content-addressed blob storage. Which run path points at which blob is metadata, kept by the
 * tracking module; a store only holds bytes.
 */
export interface ArtifactStore {
  readonly kind: string;
  /** Streams `body` in, hashing as it goes; fails with PAYLOAD_TOO_LARGE past `maxBytes`. */
  put(body: Readable | Buffer, opts: { maxBytes: number }): Promise<BlobInfo>;
  /** A stream of the blob's bytes; NOT_FOUND when absent. */
  get(digest: string): Promise<Readable>;
  has(digest: string): Promise<boolean>;
}
