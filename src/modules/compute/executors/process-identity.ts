import { readFileSync, readdirSync } from "node:fs";

export interface ProcessStat {
  /** One-letter state (R, S, D, Z, …) from /proc/<pid>/stat field 3. */
  state: string;
  pgrp: number;
  /** Start time in clock ticks since boot, /proc/<pid>/stat field 22: with the pid, a unique identity. */
  startTime: string;
}

/** Reads /proc/<pid>/stat; undefined when the process does not exist. */
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

/** True when `pid` is a live (non-zombie) process started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  const stat = readProcessStat(pid);
  return stat !== undefined && stat.state !== "Z" && stat.state !== "X" && stat.startTime === startTime;
}

/** Live members of process group `pgid` (zombies excluded: they hold nothing but a slot). */
export function processGroupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcessStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== "Z" && stat.state !== "X") members.push(Number(entry));
  }
  return members;
}

/** Reads a process's environment (for recovering an attempt by its PAVED_JOB_ID); empty when unreadable. */
export function readProcessEnv(pid: number): Map<string, string> {
  try {
    const text = readFileSync(`/proc/${pid}/environ`, "utf8");
    const env = new Map<string, string>();
    for (const entry of text.split("\0")) {
      const i = entry.indexOf("=");
      if (i > 0) env.set(entry.slice(0, i), entry.slice(i + 1));
    }
    return env;
  } catch {
    return new Map();
  }
}
