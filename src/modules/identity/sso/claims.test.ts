import { describe, expect, it } from "vitest";
import { groupsOf, mapClaims, type ClaimMapping } from "./claims.ts";
import type { IdTokenClaims } from "./id-token.ts";

const MAPPING: ClaimMapping = {
  groupsClaim: "groups",
  teams: [
    { group: "risk-devs", team: "risk", role: "developer" },
    { group: "risk-leads", team: "risk", role: "maintainer" },
    { group: "everyone", team: "fraud", role: "viewer" },
  ],
  platformAdminGroups: ["paved-admins"],
};
const token = (claims: Record<string, unknown>): IdTokenClaims => ({ iss: "https://idp.example", sub: "s-1", ...claims }) as IdTokenClaims;

describe("mapping ID-token claims to a user", () => {
  it("gives the strongest role where several groups name one team, and ignores unmapped groups", () => {
    const user = mapClaims(token({ preferred_username: "ada", groups: ["risk-leads", "risk-devs", "everyone", "unmapped"] }), MAPPING);
    expect(user).toMatchObject({ issuer: "https://idp.example", subject: "s-1", preferredName: "ada", platformAdmin: false });
    expect(user.teams).toEqual([
      { team: "fraud", role: "viewer" },
      { team: "risk", role: "maintainer" },
    ]);
  });

  it("makes members of an admin group platform admins, and a user without groups a member of nothing", () => {
    expect(mapClaims(token({ groups: ["paved-admins"] }), MAPPING)).toMatchObject({ platformAdmin: true, teams: [] });
    expect(mapClaims(token({}), MAPPING)).toMatchObject({ platformAdmin: false, teams: [] });
  });

  it("names the user by preferred_username, then email, then sub, or by the configured claim", () => {
    expect(mapClaims(token({ preferred_username: "ada", email: "ada@x.org" }), MAPPING).preferredName).toBe("ada");
    expect(mapClaims(token({ email: "ada@x.org" }), MAPPING).preferredName).toBe("ada@x.org");
    expect(mapClaims(token({}), MAPPING).preferredName).toBe("s-1");
    expect(mapClaims(token({ upn: "ada.l", preferred_username: "x" }), { ...MAPPING, usernameClaim: "upn" }).preferredName).toBe("ada.l");
    expect(mapClaims(token({ preferred_username: "x" }), { ...MAPPING, usernameClaim: "upn" }).preferredName).toBe("s-1");
  });

  it("reads groups from a list, one string, or a dotted path into an object (Keycloak's realm roles)", () => {
    expect(groupsOf({ groups: ["a", 3, "b"] }, "groups")).toEqual(["a", "b"]);
    expect(groupsOf({ groups: "a" }, "groups")).toEqual(["a"]);
    expect(groupsOf({ realm_access: { roles: ["risk-devs"] } }, "realm_access.roles")).toEqual(["risk-devs"]);
    expect(groupsOf({ groups: { nested: true } }, "groups")).toEqual([]);
    expect(groupsOf({}, "a.b.c")).toEqual([]);
  });
});
