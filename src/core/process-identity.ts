import { readFileSync } from "node:fs";

export interface ProcessStat {
  /** One-letter state (R, S, D, Z, …) from /proc/<pid>/stat field 3. */
  state: string;
  pgrp: number;
  /** Start time in clock ticks since boot, /proc/<pid>/stat field 22: with the pid, a unique identity. */
  startTime: string;
}

/** Reads /proc/<pid>/stat; undefined when the process does not exist or /proc is not there. */
export function readProcessStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses; fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTime = fields[19];
  if (!state || startTime === undefined) return undefined;
  return { state, pgrp, startTime };
}

/**
 * The start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22): with the
 * pid, an identity a recycled pid does not share. Undefined when the process does not exist, is a
 * zombie, or /proc is not there.
 */
export function processStartTime(pid: number): string | undefined {
  const stat = readProcessStat(pid);
  return stat && stat.state !== "Z" && stat.state !== "X" ? stat.startTime : undefined;
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
