import { z } from "zod";
import { route, type Clock, type RouteDefinition } from "../../core/index.ts";
import type { IdentityService } from "./identity-service.ts";
import { authorize } from "./policy.ts";
import {
  CreateServiceAccountBody,
  CreateTeamBody,
  CreateTokenBody,
  CreateUserBody,
  CreatedToken,
  SetMemberBody,
  TeamList,
  TeamView,
  TokenList,
  UserList,
  UserView,
  WhoAmI,
} from "./schema.ts";
import type { TokenService } from "./token-service.ts";

const TeamParams = z.object({ team: z.string().min(1).max(63) });
const MemberParams = z.object({ team: z.string().min(1).max(63), user: z.string().min(1).max(128) });
const UserParams = z.object({ name: z.string().min(1).max(128) });
const TokenParams = z.object({ id: z.string().min(1).max(100) });
const DAY_MS = 24 * 3600 * 1000;

/** Paved's identity API: who am I, personal tokens, users and service accounts, teams and roles. */
export function identityRoutes(identity: IdentityService, tokens: TokenService, clock: Clock): RouteDefinition[] {
  const tags = ["identity"];
  const teamResource = (team: string) => ({ kind: "team" as const, id: team, team });
  const createToken = async (userId: string, body: z.output<typeof CreateTokenBody>) => {
    const { token, info } = await tokens.createPersonal({ userId, name: body.name, team: body.team ?? null, expiresAt: clock.now() + body.expiresInDays * DAY_MS });
    return { ...info, token };
  };
  return [
    route({
      method: "GET",
      url: "/api/v1/whoami",
      summary: "The principal the bearer token resolves to: name, kind, teams and roles (used by `paved login` to check a token)",
      tags,
      action: "platform:read",
      response: WhoAmI,
      handler: async ({ principal }) => ({
        name: principal.name,
        kind: principal.kind,
        platformAdmin: principal.platformAdmin,
        teams: Object.entries(principal.teams)
          .map(([team, role]) => ({ team, role }))
          .sort((a, b) => a.team.localeCompare(b.team)),
        ...(principal.team ? { team: principal.team } : {}),
        ...(principal.jobId ? { jobId: principal.jobId } : {}),
      }),
    }),

    // ---- personal tokens ----
    route({
      method: "POST",
      url: "/api/v1/tokens",
      summary: "Create a personal token (shown once, stored hashed); it acts as you, with your team roles",
      tags,
      action: "tokens:write",
      body: CreateTokenBody,
      response: CreatedToken,
      resource: async ({ principal }) => ({ kind: "token", id: "(new)", userId: principal.userId }),
      handler: async ({ principal, body }) => {
        // A token's default team must be one of the caller's.
        if (body.team) authorize(principal, "teams:read", teamResource(body.team));
        return createToken(principal.userId!, body);
      },
    }),
    route({
      method: "GET",
      url: "/api/v1/tokens",
      summary: "Your personal tokens (never their values); `all=true` lists everyone's (platform admins)",
      tags,
      action: "tokens:read",
      query: z.object({ all: z.coerce.boolean().optional() }),
      response: TokenList,
      handler: async ({ principal, query }) => {
        if (query.all) authorize(principal, "users:read");
        return { tokens: await tokens.listPersonal(query.all ? undefined : principal.userId) };
      },
    }),
    route({
      method: "DELETE",
      url: "/api/v1/tokens/:id",
      summary: "Revoke a personal token: it stops working at once",
      tags,
      action: "tokens:write",
      params: TokenParams,
      resource: async ({ params }) => ({ kind: "token", id: params.id, userId: await tokens.ownerOf(params.id) }),
      handler: async ({ params }) => {
        await tokens.revoke(params.id);
        return { id: params.id, revoked: true };
      },
    }),

    // ---- users ----
    route({
      method: "POST",
      url: "/api/v1/users",
      summary: "Create a user or service account (platform admins; users from SSO are created at their first login)",
      tags,
      action: "users:write",
      body: CreateUserBody,
      response: UserView,
      handler: async ({ body }) => identity.createUser(body),
    }),
    route({
      method: "GET",
      url: "/api/v1/users",
      summary: "Every user and service account with their teams (platform admins)",
      tags,
      action: "users:read",
      response: UserList,
      handler: async () => ({ users: await identity.listUsers() }),
    }),
    route({
      method: "GET",
      url: "/api/v1/users/:name",
      summary: "One user or service account with their teams (platform admins, or the user themselves)",
      tags,
      // What is the caller's own (like its tokens): the user themselves, or a platform admin.
      action: "tokens:read",
      params: UserParams,
      response: UserView,
      resource: async ({ params }) => ({ kind: "user", id: params.name, userId: await identity.userId(params.name) }),
      handler: async ({ params }) => identity.getUser(params.name),
    }),
    route({
      method: "POST",
      url: "/api/v1/users/:name/tokens",
      summary: "Create a token for a user (platform admins: a person's first token before single sign-on); shown once",
      tags,
      action: "users:write",
      params: UserParams,
      body: CreateTokenBody,
      response: CreatedToken,
      handler: async ({ params, body }) => createToken(await identity.userId(params.name), body),
    }),
    route({
      method: "POST",
      url: "/api/v1/users/:name/disable",
      summary: "Disable a user or service account: all their tokens stop working at once",
      tags,
      action: "users:write",
      params: UserParams,
      response: UserView,
      handler: async ({ params }) => identity.disableUser(params.name),
    }),

    // ---- teams ----
    route({
      method: "POST",
      url: "/api/v1/teams",
      summary: "Create a team (platform admins); give it members with PUT …/members/:user",
      tags,
      action: "teams:create",
      body: CreateTeamBody,
      response: TeamView,
      handler: async ({ body }) => identity.createTeam(body),
    }),
    route({
      method: "GET",
      url: "/api/v1/teams",
      summary: "Your teams with their members (every team for platform admins)",
      tags,
      action: "platform:read",
      response: TeamList,
      handler: async ({ principal }) => ({ teams: await identity.listTeams(principal) }),
    }),
    route({
      method: "GET",
      url: "/api/v1/teams/:team",
      summary: "One team with its members and their roles",
      tags,
      action: "teams:read",
      params: TeamParams,
      response: TeamView,
      resource: async ({ params }) => teamResource(params.team),
      handler: async ({ params }) => identity.getTeam(params.team),
    }),
    route({
      method: "PUT",
      url: "/api/v1/teams/:team/members/:user",
      summary: "Give a user or service account a role in the team (viewer, developer, maintainer, admin), or change it",
      tags,
      action: "teams:write",
      params: MemberParams,
      body: SetMemberBody,
      response: TeamView,
      resource: async ({ params }) => teamResource(params.team),
      handler: async ({ params, body }) => identity.setMember(params.team, params.user, body.role),
    }),
    route({
      method: "DELETE",
      url: "/api/v1/teams/:team/members/:user",
      summary: "Take a user or service account out of the team; their next request no longer sees it",
      tags,
      action: "teams:write",
      params: MemberParams,
      response: TeamView,
      resource: async ({ params }) => teamResource(params.team),
      handler: async ({ params }) => identity.removeMember(params.team, params.user),
    }),
    route({
      method: "POST",
      url: "/api/v1/teams/:team/service-accounts",
      summary: "Create a service account (for CI and automation) with a role in this team (team admins)",
      tags,
      action: "teams:write",
      params: TeamParams,
      body: CreateServiceAccountBody,
      response: UserView,
      resource: async ({ params }) => teamResource(params.team),
      handler: async ({ params, body }) =>
        identity.createUser({ name: body.name, kind: "service", displayName: body.displayName, teams: [{ team: params.team, role: body.role }] }),
    }),
    route({
      method: "POST",
      url: "/api/v1/teams/:team/service-accounts/:user/tokens",
      summary: "Create a token for one of the team's service accounts (team admins); shown once",
      tags,
      action: "teams:write",
      params: MemberParams,
      body: CreateTokenBody,
      response: CreatedToken,
      resource: async ({ params }) => teamResource(params.team),
      handler: async ({ params, body }) => {
        const account = await identity.serviceAccountOf(params.team, params.user);
        return createToken(account.id, { ...body, team: body.team ?? params.team });
      },
    }),
  ];
}
