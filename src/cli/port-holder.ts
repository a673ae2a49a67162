import { readFileSync, readdirSync, readlinkSync } from "node:fs";

/** A process listening on a TCP port, as far as this user may see it. */
export interface PortHolder {
  pid: number;
  /** Its command line, shortened. */
  command: string;
}

/**
 * Who listens on TCP `port` (Linux: /proc/net/tcp{,6} for the socket, /proc/<pid>/fd for its
 * owner). Undefined when unknown: another OS, or a process of another user.
 */
export function findPortHolder(port: number): PortHolder | undefined {
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN; field 10 is the socket's inode.
      const local = fields[1];
      if (!local || fields[3] !== "0A") continue;
      if (parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port && fields[9] && fields[9] !== "0") inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return { pid: Number(pid), command: commandLine(Number(pid)) };
    }
  }
  return undefined;
}

function commandLine(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const text = argv.join(" ");
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return "?";
  }
}
