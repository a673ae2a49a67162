// The capture reader: reads files for a job's code snapshot and hashes its datasets as the job's
// own user. Under compute.runAs the server (root) starts it with that user's uid and gid, so the
// run records only what the job itself could read, never a file a spec points at to get it
// through the server. Plain JavaScript without dependencies, so it starts under bare `node`.
//
// Protocol: stdin is one JSON object, then end of input.
//   {"op": "read", "paths": ["/abs/a.py", ...], "maxFileBytes": n}
//     stdout: one line per path, in order: the file's bytes in base64, or "-" when it cannot be
//     read (missing, no permission, a link, not a regular file, over maxFileBytes).
//   {"op": "digest", "paths": ["/abs/data.csv", ...], "skipDirs": [...]}
//     stdout: one line per path: the SHA-256 of a file's bytes, or of a folder's sorted
//     "<relative path>\0<file digest>\n" list (folders named in skipDirs left out), or "-".
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";

function readRegular(path, maxBytes) {
  let fd;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (!stat.isFile() || stat.size > maxBytes) return undefined;
    const buffer = Buffer.alloc(stat.size);
    let offset = 0;
    while (offset < buffer.length) {
      const n = readSync(fd, buffer, offset, buffer.length - offset, offset);
      if (n === 0) break;
      offset += n;
    }
    return buffer.subarray(0, offset);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function hashFile(path) {
  const hash = createHash("sha256");
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      hash.update(buffer.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

// The same walk and digest as capture.ts's datasetDigest, so a digest does not depend on who reads.
function walk(root, skipDirs, max) {
  const out = [];
  const queue = [""];
  while (queue.length > 0 && out.length < max) {
    const rel = queue.shift();
    let entries;
    try {
      entries = readdirSync(join(root, rel), { withFileTypes: true });
    } catch {
      entries = [];
    }
    for (const entry of entries) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory() && !skipDirs.has(entry.name)) queue.push(path);
      else if (entry.isFile()) out.push(path);
    }
  }
  return out;
}

function digest(path, skipDirs) {
  try {
    if (lstatSync(path).isFile()) return hashFile(path);
    const hash = createHash("sha256");
    for (const rel of walk(path, skipDirs, 1_000_000).sort()) hash.update(`${rel}\0${hashFile(join(path, rel))}\n`);
    return hash.digest("hex");
  } catch {
    return undefined;
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const skipDirs = new Set(request.skipDirs ?? []);
  for (const path of request.paths) {
    if (request.op === "digest") {
      process.stdout.write(`${digest(path, skipDirs) ?? "-"}\n`);
    } else {
      const bytes = readRegular(path, request.maxFileBytes);
      process.stdout.write(`${bytes ? bytes.toString("base64") : "-"}\n`);
    }
  }
});
