/** One entry of a folder listing: a file with its size, or a folder (size null). */
export interface ArtifactEntry {
  path: string;
  isDir: boolean;
  size: number | null;
}

/** Files and folders directly under `dir` (relative, no trailing slash; "" for the root), given every file below it. */
export function listDirectory(files: { path: string; size: number }[], dir: string): ArtifactEntry[] {
  const prefix = dir ? `${dir}/` : "";
  const entries: ArtifactEntry[] = [];
  const folders = new Set<string>();
  for (const file of files) {
    if (!file.path.startsWith(prefix)) continue;
    const rest = file.path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash === -1) entries.push({ path: file.path, isDir: false, size: file.size });
    else {
      const folder = prefix + rest.slice(0, slash);
      if (!folders.has(folder)) {
        folders.add(folder);
        entries.push({ path: folder, isDir: true, size: null });
      }
    }
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
