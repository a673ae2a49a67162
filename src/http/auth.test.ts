import { afterAll, describe, expect, it } from "vitest";
import { openTestDatabase } from "../../test/support/databases.ts";
import { randomIds, type Clock } from "../core/index.ts";
import { TokenService } from "./auth.ts";

describe("TokenService", async () => {
  const database = await openTestDatabase("sqlite");
  let now = 1_000_000;
  const clock: Clock = { now: () => now };
  const tokens = new TokenService(database.db, clock, randomIds);
  afterAll(() => database.close());

  it("resolves a token again and again from its cache, and refuses a job's token as soon as it is revoked", async () => {
    await tokens.ensureAdmin("admin-token-0123456789");
    const job = await tokens.mintForJob("job-1", 60_000);
    for (let i = 0; i < 3; i++) {
      expect(await tokens.authenticate(`Bearer ${job}`)).toEqual({ name: "job:job-1", role: "job", jobId: "job-1" });
      expect((await tokens.authenticate("Bearer admin-token-0123456789")).role).toBe("admin");
    }
    await tokens.revokeForJob("job-1");
    await expect(tokens.authenticate(`Bearer ${job}`)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect((await tokens.authenticate("Bearer admin-token-0123456789")).role).toBe("admin");
  });

  it("refuses an expired token even while it is cached", async () => {
    const job = await tokens.mintForJob("job-2", 1_000);
    expect((await tokens.authenticate(`Bearer ${job}`)).jobId).toBe("job-2");
    now += 1_001;
    await expect(tokens.authenticate(`Bearer ${job}`)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
  });

  it("refuses a missing or unknown token", async () => {
    await expect(tokens.authenticate(undefined)).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    await expect(tokens.authenticate("Bearer nope")).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
  });
});
