// The spawner: a small helper process that starts job processes for `paved up`.
// Forking costs time in proportion to the forking process's memory (about 6 ms for a bare Node
// process, 25 ms for one of 350 MB on the machines measured), so the server asks this small
// process to fork instead of forking itself. Plain JavaScript without dependencies, so it starts
// under bare `node` with no loader.
//
// Protocol: one JSON object per line.
//   in:  {"id": 1, "file": "/bin/sh", "args": [...], "cwd": "...", "env": {...}, "log": "/path", "uid"?: 65534, "gid"?: 65534, "notAfter"?: <epoch ms>}
//   out: {"id": 1, "pid": 1234} or {"id": 1, "error": "message"}, later {"exit": 1234}
// argv travel as a JSON array and reach spawn() as an array: no shell sees them. With uid/gid
// (compute.runAs; the spawner runs as root) the process runs as that user, supplementary groups
// dropped. The log is opened here, by the server's user, and created owner-only.
// It exits when its stdin closes (the server stopped or died); jobs are in their own process
// groups and keep running.
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { createInterface } from "node:readline";

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

createInterface({ input: process.stdin })
  .on("line", (line) => {
    let request;
    try {
      request = JSON.parse(line);
    } catch {
      return;
    }
    // A request that waited past its window is refused: the server that sent it may be gone, and
    // its successor may already have started the attempt again.
    if (typeof request.notAfter === "number" && Date.now() > request.notAfter) {
      send({ id: request.id, error: "its start request expired (the machine is overloaded, or the server that sent it stopped)" });
      return;
    }
    let fd;
    try {
      fd = openSync(request.log, "a", 0o600);
      const child = spawn(request.file, request.args, {
        detached: true,
        cwd: request.cwd,
        env: request.env,
        stdio: ["ignore", fd, fd],
        ...(typeof request.uid === "number" ? { uid: request.uid, gid: request.gid } : {}),
      });
      child.once("error", (error) => send({ id: request.id, error: error.message }));
      child.once("spawn", () => {
        send({ id: request.id, pid: child.pid });
        child.once("exit", () => send({ exit: child.pid }));
      });
    } catch (error) {
      send({ id: request.id, error: error.message });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  })
  .on("close", () => process.exit(0));
