// Artifacts: content-addressed blob stores behind one interface (a local folder, or an S3 bucket).
// Stores keep bytes only; which run path names which blob is the tracking module's metadata.
export type { ArtifactStore, BlobInfo, DirectUpload, DirectUploadPart, UploadedPart } from "./artifact-store.ts";
export { LocalArtifactStore } from "./stores/local-artifact-store.ts";
export { S3ArtifactStore, S3_MAX_OBJECT_BYTES, S3_MAX_PARTS, S3_MIN_PART_BYTES, type S3ArtifactStoreOptions } from "./stores/s3-artifact-store.ts";
export { createS3ArtifactStore, type S3CredentialSource, type S3Settings } from "./stores/s3-client.ts";
export { listDirectory, type ArtifactEntry } from "./listing.ts";
export { presignedDownloadUrl, directUploads, MLFLOW_NO_MULTIPART } from "./presigned.ts";
