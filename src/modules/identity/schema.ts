import { z } from "zod";
import { TEAM_ROLES } from "../../core/index.ts";

export const TeamRoleSchema = z.enum(TEAM_ROLES);
const Membership = z.object({ team: z.string(), role: TeamRoleSchema });

export const WhoAmI = z.object({
  name: z.string(),
  kind: z.enum(["user", "service", "job", "anonymous"]),
  platformAdmin: z.boolean(),
  teams: z.array(Membership).describe("the teams the caller belongs to and its role in each"),
  team: z.string().optional().describe("where new resources go when a request names no team"),
  jobId: z.string().optional(),
});
export type WhoAmI = z.infer<typeof WhoAmI>;

export const UserView = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(["user", "service"]),
  displayName: z.string().nullable(),
  email: z.string().nullable(),
  platformAdmin: z.boolean(),
  disabled: z.boolean(),
  sso: z.object({ issuer: z.string(), subject: z.string() }).nullable(),
  teams: z.array(Membership),
  createdAt: z.number(),
});
export const UserList = z.object({ users: z.array(UserView) });

export const CreateUserBody = z.strictObject({
  name: z.string().min(1).max(128),
  kind: z.enum(["user", "service"]).default("user"),
  displayName: z.string().max(200).optional(),
  email: z.string().email().max(320).optional(),
  platformAdmin: z.boolean().optional(),
  teams: z.array(z.strictObject({ team: z.string().min(1), role: TeamRoleSchema })).max(100).optional(),
});

export const TeamView = z.object({
  name: z.string(),
  description: z.string().nullable(),
  createdAt: z.number(),
  members: z.array(z.object({ user: z.string(), kind: z.enum(["user", "service"]), role: TeamRoleSchema })),
});
export type TeamView = z.infer<typeof TeamView>;
export const TeamList = z.object({ teams: z.array(TeamView) });
export const CreateTeamBody = z.strictObject({ name: z.string().min(1).max(63), description: z.string().max(500).optional() });
export const SetMemberBody = z.strictObject({ role: TeamRoleSchema });
export const CreateServiceAccountBody = z.strictObject({
  name: z.string().min(1).max(128),
  role: TeamRoleSchema.describe("its role in this team"),
  displayName: z.string().max(200).optional(),
});

export const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  user: z.string(),
  team: z.string().nullable(),
  createdAt: z.number(),
  expiresAt: z.number().nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;
export const TokenList = z.object({ tokens: z.array(TokenInfo) });
/** Personal tokens last at most a year; `expiresInDays` 0 is refused (a token that never works). */
export const MAX_TOKEN_DAYS = 366;
export const CreateTokenBody = z.strictObject({
  name: z.string().min(1).max(100).describe("what the token is for, e.g. laptop or ci"),
  expiresInDays: z.number().int().min(1).max(MAX_TOKEN_DAYS).default(90).describe("days until it stops working (at most 366)"),
  team: z.string().min(1).optional().describe("the team new resources go to when a request names none"),
});
export const CreatedToken = TokenInfo.extend({ token: z.string().describe("the token itself: shown once, stored only as a hash") });

// Single sign-on (the client and the CLI read these through this file).
export { SessionView, SsoDevicePoll, SsoDeviceStart } from "./sso/schema.ts";
