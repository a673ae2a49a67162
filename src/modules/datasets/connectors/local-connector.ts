import { constants, createWriteStream } from "node:fs";
import { mkdir, open, readdir, readlink, realpath, stat } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { z } from "zod";
import { PlatformError, invalidInput, notFound } from "../../../core/index.ts";
import type { Connector, ConnectorContext, SnapshotFile, SnapshotResult } from "./connector.ts";
import { SnapshotBudget, checkAborted } from "./limits.ts";

/** A folder the server's admin lets the `local` connector read under. */
export interface LocalRoot {
  name: string;
  path: string;
}

export const LocalSpec = z.strictObject({
  kind: z.literal("local"),
  /** The name of a root in datasets.connectors.localRoots. */
  root: z.string().min(1).max(63),
  /** A file or folder inside the root, relative to it ('/'-separated); default: the whole root. */
  path: z.string().min(1).max(1024).optional(),
});
export type LocalSpec = z.output<typeof LocalSpec>;

/**
 * Files and folders under admin-configured roots. A path that leaves its root (`..`, an absolute
 * path, a symbolic link pointing out) is refused; links that stay inside are followed.
 */
export class LocalConnector implements Connector<LocalSpec> {
  readonly kind = "local";
  readonly spec = LocalSpec;

  constructor(private readonly roots: readonly LocalRoot[]) {}

  async snapshot(spec: LocalSpec, ctx: ConnectorContext): Promise<SnapshotResult> {
    checkAborted(ctx.signal);
    const root = this.roots.find((r) => r.name === spec.root);
    if (!root) {
      const names = this.roots.map((r) => r.name);
      throw invalidInput(
        names.length
          ? `local root '${spec.root}' does not exist; use one of: ${names.join(", ")}`
          : `no local roots are configured, so the local connector reads nothing; a platform admin lists folders in datasets.connectors.localRoots`,
        { roots: names },
      );
    }
    const rel = relativePath(spec.path);
    const realRoot = await realpath(root.path).catch(() => {
      throw new PlatformError("CONFIG", `local root '${root.name}' (${root.path}) cannot be read; a platform admin fixes datasets.connectors.localRoots`);
    });
    const target = await realpath(join(realRoot, ...rel)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") throw notFound(`'${rel.join("/") || "."}' does not exist in local root '${root.name}'; check the path`);
      throw invalidInput(`'${rel.join("/")}' in local root '${root.name}' cannot be read (${error.code ?? "error"})`);
    });
    const inside = (p: string) => p === realRoot || p.startsWith(realRoot + sep);
    if (!inside(target)) throw escapes(rel.join("/"), root.name);
    const budget = new SnapshotBudget(ctx.limits, "name a smaller folder or a single file");
    // What to copy: [real source, relative destination]; walked first, so that limits refuse before anything is copied.
    const plan: [string, string][] = [];
    const info = await stat(target);
    if (info.isFile()) {
      budget.addFile();
      budget.addBytes(info.size);
      plan.push([target, rel.at(-1) ?? "data"]);
    } else if (info.isDirectory()) {
      await this.walk(target, "", realRoot, root.name, inside, budget, plan, new Set([target]), ctx.signal);
    } else {
      throw invalidInput(`'${rel.join("/")}' in local root '${root.name}' is neither a file nor a folder`);
    }
    const files: SnapshotFile[] = [];
    const copied = new SnapshotBudget(ctx.limits, "name a smaller folder or a single file");
    for (const [source, dest] of plan) {
      checkAborted(ctx.signal);
      const bytes = await copyConfined(source, join(ctx.scratchDir, ...dest.split("/")), inside, (n) => copied.addBytes(n), ctx.signal, () => escapes(rel.join("/"), root.name));
      files.push({ path: dest, bytes });
    }
    return { files, source: { kind: "local", root: root.name, path: rel.join("/") || ".", files: files.length, bytes: copied.bytes } };
  }

  private async walk(dir: string, prefix: string, realRoot: string, rootName: string, inside: (p: string) => boolean, budget: SnapshotBudget, plan: [string, string][], seen: Set<string>, signal: AbortSignal): Promise<void> {
    checkAborted(signal);
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      let real = path;
      if (entry.isSymbolicLink()) {
        real = await realpath(path).catch(() => {
          throw invalidInput(`'${relative(realRoot, path)}' in local root '${rootName}' is a broken symbolic link; remove it or name a path without it`);
        });
        if (!inside(real)) throw escapes(relative(realRoot, path), rootName);
      }
      const info = await stat(real);
      if (info.isDirectory()) {
        // A link back up the tree would loop forever.
        if (seen.has(real)) continue;
        seen.add(real);
        await this.walk(real, rel, realRoot, rootName, inside, budget, plan, seen, signal);
      } else if (info.isFile()) {
        budget.addFile();
        budget.addBytes(info.size);
        plan.push([real, rel]);
      }
      // Sockets, FIFOs and devices are not data: left out.
    }
  }
}

/** A spec's path as segments: relative, without `..`, NUL or backslashes. */
function relativePath(path: string | undefined): string[] {
  if (path === undefined) return [];
  if (path.startsWith("/")) throw invalidInput(`path '${path}' is absolute; give a path relative to the local root (e.g. 'exports/2024')`);
  if (path.includes("\0") || path.includes("\\")) throw invalidInput(`path '${path}' holds a NUL or a backslash; use '/'-separated relative paths`);
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw invalidInput(`path '${path}' contains '..'; paths stay inside their local root (name another root if the data is elsewhere)`);
  return segments;
}

function escapes(path: string, root: string): PlatformError {
  return invalidInput(`'${path}' in local root '${root}' leads outside the root through a symbolic link; name a path whose files are inside the root (or ask an admin to add a root where they are)`);
}

/**
 * Copies one file, opened without following a link, and checked (through /proc/self/fd) to be the
 * file inside the root that the walk found: a link swapped in meanwhile is refused.
 */
async function copyConfined(source: string, dest: string, inside: (p: string) => boolean, count: (n: number) => void, signal: AbortSignal, refused: () => Error): Promise<number> {
  const handle = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ELOOP") throw refused();
    throw error;
  });
  try {
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (opened !== undefined && !inside(opened)) throw refused();
    if (!(await handle.stat()).isFile()) throw refused();
    await mkdir(dirname(dest), { recursive: true });
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        try {
          count(chunk.length);
        } catch (error) {
          return done(error as Error);
        }
        done(null, chunk);
      },
    });
    await pipeline(handle.createReadStream({ autoClose: false }), counter, createWriteStream(dest, { flags: "wx" }), { signal });
    return bytes;
  } finally {
    await handle.close();
  }
}
