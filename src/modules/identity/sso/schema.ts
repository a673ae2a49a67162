import { z } from "zod";
import { TEAM_ROLES } from "../../../core/index.ts";

const Membership = z.object({ team: z.string(), role: z.enum(TEAM_ROLES) });

export const SsoLoginQuery = z.object({
  return_to: z.string().max(2048).optional().describe("where to go after signing in: a path on this server, or a URL on an allowed host (default /)"),
});

/** What the provider sends back to the callback; anything else is ignored. */
export const SsoCallbackQuery = z.object({
  code: z.string().max(4096).optional(),
  state: z.string().max(512).optional(),
  iss: z.string().max(2048).optional(),
  session_state: z.string().max(2048).optional(),
  error: z.string().max(512).optional(),
  error_description: z.string().max(4096).optional(),
});

export const SsoDeviceBody = z.strictObject({
  client: z.string().max(255).optional().describe("the CLI's host name; the token is named sso-<client>"),
});

export const SsoDeviceStart = z.object({
  handle: z.string().describe("secret: what the CLI polls with (POST /auth/sso/device/poll); shown once"),
  userCode: z.string(),
  verificationUri: z.string(),
  verificationUriComplete: z.string().optional(),
  expiresIn: z.number().describe("seconds the user has to finish"),
  interval: z.number().describe("seconds to wait between polls"),
});
export type SsoDeviceStart = z.infer<typeof SsoDeviceStart>;

export const SsoDevicePollBody = z.strictObject({ handle: z.string().min(16).max(128) });

export const SsoDevicePoll = z.union([
  z.object({ status: z.literal("pending"), interval: z.number() }),
  z.object({
    status: z.literal("complete"),
    token: z.string().describe("a personal token named sso-<client>, valid as long as a browser session; shown once"),
    name: z.string(),
    platformAdmin: z.boolean(),
    teams: z.array(Membership),
    expiresAt: z.number(),
  }),
]);
export type SsoDevicePoll = z.infer<typeof SsoDevicePoll>;

export const SessionView = z.object({
  name: z.string(),
  kind: z.enum(["user", "service", "job", "anonymous"]),
  platformAdmin: z.boolean(),
  teams: z.array(Membership),
  team: z.string().optional(),
  createdAt: z.number(),
  expiresAt: z.number(),
  csrfToken: z.string().describe("send it as x-paved-csrf with every request that changes something"),
});
export type SessionView = z.infer<typeof SessionView>;

export const TokenSignInBody = z.strictObject({
  token: z.string().min(1).max(512).describe("a personal token (`paved tokens create`); a job's token does not sign in"),
});

export const SignInMethods = z.object({
  sso: z.boolean().describe("whether single sign-on is configured (GET /auth/sso/login)"),
  token: z.boolean().describe("whether a personal token opens a browser session (POST /auth/session)"),
});
