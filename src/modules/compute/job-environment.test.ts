// What of the server's environment a job gets: never a PAVED_ variable, such as the data plane's
// secret that control-plane pods hold (PAVED_DATAPLANE_SECRET), even when an admin's passthrough
// pattern would match it.
import { describe, expect, it } from "vitest";
import { allowListedEnvironment } from "./job-environment.ts";

describe("a job's environment from the server's", () => {
  it("never carries the server's PAVED_ secrets, whatever the passthrough", () => {
    const server = { PATH: "/usr/bin", PAVED_DATAPLANE_SECRET: "s3cret-0123456789", PAVED_ADMIN_TOKEN: "pvd_admin", PAVED_DATABASE_URL: "postgres://u:p@db/x", HF_HOME: "/cache" };
    const env = allowListedEnvironment(server, ["*", "PAVED_*", "HF_HOME"]);
    expect(env.PATH).toBe("/usr/bin");
    expect(env.HF_HOME).toBe("/cache");
    expect(Object.keys(env).filter((k) => k.startsWith("PAVED_"))).toEqual([]);
  });
});
