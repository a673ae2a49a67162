import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { access, mkdir, open, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PlatformError, notFound } from "../../core/index.ts";
import type { ArtifactStore, BlobInfo } from "../artifact-store.ts";

const DIGEST = /^[0-9a-f]{64}$/;

/** Blobs under `<root>/sha256/ab/cdef…`; written to a temp file, fsynced, then renamed in. */
export class LocalArtifactStore implements ArtifactStore {
  readonly kind = "local";
  constructor(private readonly root: string) {}

  async put(body: Readable | Buffer, { maxBytes }: { maxBytes: number }): Promise<BlobInfo> {
    const tmpDir = join(this.root, "tmp");
    await mkdir(tmpDir, { recursive: true }).catch((error: unknown) => {
      throw unavailable(error, "storing an artifact");
    });
    const tmp = join(tmpDir, randomBytes(12).toString("hex"));
    const hash = createHash("sha256");
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) {
          done(new PlatformError("PAYLOAD_TOO_LARGE", `artifact exceeds the ${maxBytes}-byte limit; split it or raise artifacts.maxUploadBytes`));
          return;
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The disk's own failures (full, read-only, gone) are UNAVAILABLE; the body's (too large, client gone) stay as they are.
    let diskError: unknown;
    let piped = false;
    try {
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      // A write stream also re-emits the error it is destroyed with (the body's); only the disk's own carry a syscall.
      const file = createWriteStream(tmp).on("error", (error: NodeJS.ErrnoException) => {
        if (error.syscall) diskError = error;
      });
      await pipeline(source, meter, file);
      piped = true;
      const handle = await open(tmp, "r");
      await handle.sync();
      await handle.close();
      const digest = hash.digest("hex");
      const dir = join(this.root, "sha256", digest.slice(0, 2));
      await mkdir(dir, { recursive: true });
      await rename(tmp, join(dir, digest.slice(2)));
      return { digest, size };
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw error === diskError || piped ? unavailable(error, "storing an artifact") : error;
    }
  }

  async get(digest: string): Promise<Readable> {
    const path = this.pathOf(digest);
    if (!(await this.has(digest))) throw notFound(`blob ${digest} is not in the artifact store`);
    return createReadStream(path);
  }

  async has(digest: string): Promise<boolean> {
    if (!DIGEST.test(digest)) return false;
    try {
      await access(this.pathOf(digest));
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return false;
      throw unavailable(error, "looking up an artifact");
    }
  }

  /**
   * Moved aside first (an atomic rename), then judged by its age: an upload of the same bytes that
   * renamed its copy in meanwhile is either the file moved aside (young: moved back; the bytes are
   * the same) or the one now in place (untouched).
   */
  async remove(digest: string, { minAgeMs }: { minAgeMs: number }): Promise<"removed" | "absent" | "recent"> {
    const path = this.pathOf(digest);
    const trash = join(this.root, "tmp", `gc-${randomBytes(12).toString("hex")}`);
    try {
      await mkdir(join(this.root, "tmp"), { recursive: true });
      await rename(path, trash);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") return "absent";
      throw unavailable(error, "removing an artifact");
    }
    try {
      const { mtimeMs } = await stat(trash);
      if (Date.now() - mtimeMs < minAgeMs) {
        await rename(trash, path);
        return "recent";
      }
      await rm(trash, { force: true });
      return "removed";
    } catch (error) {
      throw unavailable(error, "removing an artifact");
    }
  }

  get localRoot(): string {
    return join(this.root, "sha256");
  }

  async localPath(digest: string): Promise<string | undefined> {
    return (await this.has(digest)) ? this.pathOf(digest) : undefined;
  }

  private pathOf(digest: string): string {
    if (!DIGEST.test(digest)) throw notFound(`'${digest}' is not a sha256 digest`);
    return join(this.root, "sha256", digest.slice(0, 2), digest.slice(2));
  }
}

/** A failure of the disk under the store: its errno code, and who can fix it, without the server's paths. */
function unavailable(error: unknown, doing: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const cause = (error as { code?: string }).code ?? "unknown error";
  const why = cause === "ENOSPC" ? "its disk is full" : `its folder cannot be written (${cause})`;
  return new PlatformError("UNAVAILABLE", `the local artifact store failed while ${doing}: ${why}; an operator should check the artifacts folder under dataDir`, { store: "local", cause });
}
