import { TEAM_ROLES, type TeamRole } from "../../../core/index.ts";
import type { IdTokenClaims } from "./id-token.ts";

/** How claims become a Paved user: which claims name them, which groups give which team roles. */
export interface ClaimMapping {
  groupsClaim: string;
  usernameClaim?: string | undefined;
  teams: { group: string; team: string; role: TeamRole }[];
  platformAdminGroups: string[];
}

/** What a login makes of a verified ID token (the input of IdentityService.upsertSsoUser). */
export interface MappedUser {
  issuer: string;
  subject: string;
  preferredName: string;
  displayName?: string | undefined;
  email?: string | undefined;
  platformAdmin: boolean;
  teams: { team: string; role: TeamRole }[];
}

/** At most this many groups are read from a token (a directory can put hundreds in it). */
const MAX_GROUPS = 1000;

/**
 * Maps a verified ID token to a user: their name (the configured claim, else preferred_username,
 * then email, then sub), and the teams and roles their groups give by configuration (the
 * strongest role where several groups name one team).
 */
export function mapClaims(claims: IdTokenClaims, mapping: ClaimMapping): MappedUser {
  const names = mapping.usernameClaim ? [mapping.usernameClaim, "sub"] : ["preferred_username", "email", "sub"];
  const preferredName = names.map((n) => text(claims[n])).find((v) => v !== undefined) ?? claims.sub;
  const groups = new Set(groupsOf(claims, mapping.groupsClaim));
  const roles = new Map<string, TeamRole>();
  for (const rule of mapping.teams) {
    if (!groups.has(rule.group)) continue;
    const held = roles.get(rule.team);
    if (held === undefined || TEAM_ROLES.indexOf(rule.role) > TEAM_ROLES.indexOf(held)) roles.set(rule.team, rule.role);
  }
  return {
    issuer: String(claims.iss),
    subject: claims.sub,
    preferredName,
    displayName: text(claims.name),
    email: text(claims.email),
    platformAdmin: mapping.platformAdminGroups.some((g) => groups.has(g)),
    teams: [...roles].map(([team, role]) => ({ team, role })).sort((a, b) => a.team.localeCompare(b.team)),
  };
}

/** The groups claim: a list of strings or one string, at a claim name or a dotted path (realm_access.roles). */
export function groupsOf(claims: Record<string, unknown>, claim: string): string[] {
  let value: unknown = claims[claim];
  if (value === undefined && claim.includes(".")) {
    value = claim.split(".").reduce<unknown>((node, key) => (node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined), claims);
  }
  if (typeof value === "string") return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((g): g is string => typeof g === "string").slice(0, MAX_GROUPS);
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() !== "" ? value.trim().slice(0, 200) : undefined;
}
