// Artifacts: content-addressed blob stores behind one interface (local folder now, S3 later).
// Stores keep bytes only; which run path names which blob is the tracking module's metadata.
export type { ArtifactStore, BlobInfo } from "./artifact-store.ts";
export { LocalArtifactStore } from "./stores/local-artifact-store.ts";
export { listDirectory, type ArtifactEntry } from "./listing.ts";
