import { readFileSync } from "node:fs";

/**
 * The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22): with the
 * pid, an identity a recycled pid does not share. Undefined when the process does not exist, is a
 * zombie, or /proc is not there.
 */
export function processStartTime(pid: number): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19];
}

/**
 * True while the process that was `pid` started at `startTime` still runs. Without /proc (or
 * without a recorded start time) it falls back to whether some process has that pid.
 */
export function isProcessAlive(pid: number, startTime: string | null | undefined): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  const procAvailable = processStartTime(process.pid) !== undefined;
  if (procAvailable) {
    const current = processStartTime(pid);
    return current !== undefined && (startTime === null || startTime === undefined || current === startTime);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
