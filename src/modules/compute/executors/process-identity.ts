import { readFileSync, readdirSync } from "node:fs";
import { processStartTime, readProcessStat } from "../../../core/index.ts";

/** True when `pid` is a live (non-zombie) process started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  return processStartTime(pid) === startTime;
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

/**
 * The process group of a live process carrying this attempt's identity in its environment
 * (PAVED_JOB_ID and PAVED_ATTEMPT), found by scanning /proc: an attempt started in the instant
 * before its wrapper wrote its pid file. Undefined when there is none (or no /proc).
 */
export function findAttemptGroup(jobId: string, attempt: number): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const stat = readProcessStat(pid);
    if (!stat || stat.state === "Z" || stat.state === "X") continue;
    const env = readProcessEnv(pid);
    if (env.get("PAVED_JOB_ID") === jobId && env.get("PAVED_ATTEMPT") === String(attempt)) return stat.pgrp;
  }
  return undefined;
}
