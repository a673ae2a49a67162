import { PlatformError } from "../core/index.ts";
import type { ArtifactStore } from "./artifact-store.ts";

/**
 * A time-limited URL that downloads one blob straight from the store (`?redirect=presigned` on
 * download routes); UNSUPPORTED on stores that serve bytes only through Paved.
 */
export async function presignedDownloadUrl(store: ArtifactStore, digest: string, path: string): Promise<string> {
  if (!store.downloadUrl) {
    throw new PlatformError(
      "UNSUPPORTED",
      `this server keeps artifacts in the ${store.kind} store, which hands out no presigned URLs (the s3 store does: artifacts.store: s3); download without redirect=presigned`,
      { store: store.kind, supportedBy: ["s3"] },
    );
  }
  return store.downloadUrl(digest, { fileName: path.split("/").pop() || "artifact" });
}

/** What MLflow's client looks for to fall back from a multipart upload to a plain PUT through the proxy. */
export const MLFLOW_NO_MULTIPART = "Multipart upload is not supported for the current artifact repository";

/**
 * The store's direct (presigned multipart) uploads; UNSUPPORTED on stores that take bytes only
 * through Paved, worded so the mlflow client falls back to a plain upload by itself.
 */
export function directUploads(store: ArtifactStore): Required<Pick<ArtifactStore, "createDirectUpload" | "completeDirectUpload" | "abortDirectUpload">> {
  const { createDirectUpload, completeDirectUpload, abortDirectUpload } = store;
  if (!createDirectUpload || !completeDirectUpload || !abortDirectUpload) {
    throw new PlatformError(
      "UNSUPPORTED",
      `${MLFLOW_NO_MULTIPART}: this server keeps artifacts in the ${store.kind} store, which takes no direct uploads (the s3 store does: artifacts.store: s3); upload through Paved with PUT /api/2.0/mlflow-artifacts/artifacts/<path> (the mlflow client falls back to it by itself)`,
      { store: store.kind, supportedBy: ["s3"] },
    );
  }
  return { createDirectUpload: createDirectUpload.bind(store), completeDirectUpload: completeDirectUpload.bind(store), abortDirectUpload: abortDirectUpload.bind(store) };
}
