import { copyFile, mkdir, readdir, realpath, symlink, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { GIT_CEILING_FILE, codeFiles, gitInfo, skippedFromSnapshot } from "../compute/index.ts";

export interface JobSnapshot {
  /** Where the job runs: the snapshot's copy of its working folder. */
  workingDir: string;
  files: number;
  /** The working folder, relative to the home ("." for the home itself). */
  relative: string;
  /** Tags of the job's run: the folder it came from, and its git commit when it is a repository. */
  tags: Record<string, string>;
}

/**
 * Copies the code of a job's working folder, when that folder is in a workspace's home, to
 * `into/<job id>`: the files a run's code snapshot takes (compute's codeFiles: git's tracked and
 * untracked files, or a bounded walk; never credentials; files under 10 MB, 50 MB in all). What the
 * copy leaves out at the folder's top level (data folders, large files) is linked to the live
 * one, so a job still finds its data by relative path, while its code cannot change under it;
 * so are the top-level entries named in `linkOnly` (what Paved wrote there, not the user's code).
 * Undefined for a folder outside the home.
 */
export async function snapshotJob(input: { jobId: string; workingDir: string; home: string; into: string; linkOnly?: readonly string[] }): Promise<JobSnapshot | undefined> {
  const live = await realpath(input.workingDir).catch(() => undefined);
  const home = await realpath(input.home).catch(() => undefined);
  if (!live || !home || (live !== home && !live.startsWith(home + sep))) return undefined;
  const target = join(input.into, input.jobId);
  await mkdir(target, { recursive: true });
  // Capture of the job's run looks for git no further up than here (the data dir may sit in a repository).
  await writeFile(join(target, GIT_CEILING_FILE), "");
  const linkOnly = new Set(input.linkOnly ?? []);
  const files = (await codeFiles(live)).filter((rel) => !linkOnly.has(rel.split("/")[0]!));
  for (const rel of files) {
    await mkdir(dirname(join(target, rel)), { recursive: true });
    await copyFile(join(live, rel), join(target, rel));
  }
  const copiedTop = new Set(files.map((rel) => rel.split("/")[0]!));
  for (const entry of await readdir(live, { withFileTypes: true })) {
    if (copiedTop.has(entry.name) || skippedFromSnapshot(entry.name, true)) continue;
    await symlink(join(live, entry.name), join(target, entry.name)).catch(() => undefined);
  }
  const tags: Record<string, string> = { "paved.workspace.source_dir": relative(home, live) || "." };
  const git = await gitInfo(live);
  if (git) {
    tags["mlflow.source.git.commit"] = git.commit;
    tags["paved.source.dirty"] = String(git.dirty);
  }
  return { workingDir: target, files: files.length, relative: relative(home, live) || "the home folder", tags };
}
