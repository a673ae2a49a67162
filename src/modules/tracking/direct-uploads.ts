import { directUploads, MLFLOW_NO_MULTIPART, type BlobInfo, type DirectUpload, type UploadedPart } from "../../artifacts/index.ts";
import { PlatformError, confinePath, invalidInput } from "../../core/index.ts";
import type { PlatformDeps } from "../platform-deps.ts";
import type { TrackingService } from "./service.ts";
import { TrackingStore } from "./store.ts";

/** A run file a direct upload is for. */
interface Target {
  runId: string;
  relative: string;
  team: string;
  /** What the store binds the upload to: the same upload id under another path finds nothing. */
  scope: string;
}

/**
 * MLflow's proxied multipart upload (`mlflow-artifacts/mpu/create|complete|abort`) onto a run's
 * artifact root: the client PUTs parts straight to the object store's presigned URLs, and on
 * `complete` Paved checks the parts, charges the run's team for the assembled size, names the
 * object by content and records the path, as an upload through the proxy does.
 */
export class DirectUploadService {
  private readonly rows: TrackingStore;

  constructor(
    private readonly tracking: TrackingService,
    private readonly deps: PlatformDeps,
  ) {
    this.rows = new TrackingStore(deps.database);
  }

  /** Presigned URLs for `parts` parts of the file `fileName` under the proxy folder `folder` (`<experiment>/<run>/artifacts[/…]`). */
  async create(folder: string, fileName: string, parts: number): Promise<DirectUpload> {
    const uploads = directUploads(this.deps.artifacts);
    const target = await this.target(folder, fileName, { active: true });
    // A team already at its quota is refused before any byte is sent; the size is charged on complete.
    await this.deps.storageQuota?.(target.team, 0, this.what(target));
    return uploads.createDirectUpload({ scope: target.scope, parts });
  }

  /** Assembles the parts, charges the run's team for them (QUOTA_EXCEEDED removes the object) and records the file. */
  async complete(folder: string, fileName: string, uploadId: string, parts: UploadedPart[]): Promise<BlobInfo> {
    const uploads = directUploads(this.deps.artifacts);
    const target = await this.target(folder, fileName, { active: true });
    const quota = this.deps.storageQuota;
    const blob = await uploads.completeDirectUpload(uploadId, {
      scope: target.scope,
      parts,
      maxBytes: this.deps.config.artifacts.maxUploadBytes,
      ...(quota ? { admit: (size: number) => quota(target.team, size, this.what(target)) } : {}),
    });
    await this.rows.putArtifact({ run_id: target.runId, path: target.relative, digest: blob.digest, size: blob.size, created_at: this.deps.clock.now() });
    return blob;
  }

  /** Drops the upload and its parts; nothing is recorded. */
  async abort(folder: string, fileName: string, uploadId: string): Promise<void> {
    const uploads = directUploads(this.deps.artifacts);
    const target = await this.target(folder, fileName, { active: false });
    await uploads.abortDirectUpload(uploadId, { scope: target.scope });
  }

  private async target(folder: string, fileName: string, { active }: { active: boolean }): Promise<Target> {
    const resource = await this.tracking.proxyResource(folder);
    if (resource.kind !== "run") {
      // Logged models' and registry versions' files: the mlflow client falls back to a plain PUT on this message.
      throw new PlatformError(
        "UNSUPPORTED",
        `${MLFLOW_NO_MULTIPART}: direct uploads go to run artifact folders (<experiment_id>/<run_id>/artifacts/…); upload this file with PUT /api/2.0/mlflow-artifacts/artifacts/${folder}/<file> (the mlflow client falls back to it by itself)`,
      );
    }
    const { runId, relative: dir } = await this.tracking.resolveProxyPath(folder);
    const relative = confinePath(dir ? `${dir}/${baseName(fileName)}` : baseName(fileName), "artifact path");
    if (active && (await this.tracking.getRun(runId)).info.lifecycle_stage !== "active") {
      throw invalidInput(`run '${runId}' is deleted; restore it (runs/restore) before logging to it`);
    }
    return { runId, relative, team: resource.team!, scope: `run:${runId}/${relative}` };
  }

  private what(target: Target): string {
    return `uploading '${target.relative}' to run ${target.runId}`;
  }
}

/** The file's name from MLflow's `path` (the client's local path, '/' or '\' separated): its last segment. */
function baseName(path: string): string {
  const name = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
  if (name === "" || name === "." || name === "..") {
    throw invalidInput(`path '${path}' names no file; send the file's name (MLflow sends the local file's path, and its last segment names the artifact)`);
  }
  return name;
}
