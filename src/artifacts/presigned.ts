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
