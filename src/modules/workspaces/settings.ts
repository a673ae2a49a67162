import type { Config } from "../../config/index.ts";

/** `workspaces:` of the server's configuration. */
export type WorkspaceSettings = Config["workspaces"];
export type IdleLimits = WorkspaceSettings["idle"];

/** A profile's idle limits and TTL: its own fields over every profile's. */
export function idleLimitsFor(settings: WorkspaceSettings, profile: string): IdleLimits {
  return { ...settings.idle, ...(settings.profiles[profile] ?? {}) };
}
