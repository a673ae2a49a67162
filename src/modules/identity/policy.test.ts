import { describe, expect, it } from "vitest";
import { ACTIONS, type Principal } from "../../core/index.ts";
import { authorize, mayAttempt } from "./policy.ts";

const admin: Principal = { name: "admin", role: "admin" };
const user: Principal = { name: "ada", role: "user" };
const job: Principal = { name: "job:job-1", role: "job", jobId: "job-1", experimentId: "7", onBehalfOf: "ada" };

describe("the authorization policy", () => {
  it("lets an admin do everything", () => {
    for (const action of ACTIONS) expect(() => authorize(admin, action)).not.toThrow();
  });

  it("keeps gate policies, gate overrides and hand-loading models from users until teams bring maintainers", () => {
    for (const action of ["gate-policies:write", "gates:override", "serving:admin"] as const) {
      expect(() => authorize(user, action)).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    }
    for (const action of ["jobs:create", "deployments:write", "models:delete", "evaluations:create"] as const) {
      expect(() => authorize(user, action)).not.toThrow();
    }
  });

  it("lets a job write only to runs of its own job, and start runs only in its experiment", () => {
    expect(() => authorize(job, "runs:write", { kind: "run", id: "r1", jobId: "job-1", experimentId: "7" })).not.toThrow();
    expect(() => authorize(job, "runs:write", { kind: "run", id: "r2", jobId: "job-2", experimentId: "7" })).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => authorize(job, "runs:write", { kind: "run", id: "r3", jobId: null, experimentId: "7" })).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => authorize(job, "runs:create", { kind: "run", id: "(new)", experimentId: "7" })).not.toThrow();
    expect(() => authorize(job, "runs:create", { kind: "run", id: "(new)", experimentId: "0" })).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
    expect(() => authorize(job, "jobs:read", { kind: "job", id: "job-1", jobId: "job-1" })).not.toThrow();
    expect(() => authorize(job, "jobs:read", { kind: "job", id: "job-2", jobId: "job-2" })).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
  });

  it("refuses an ownership action that names no resource rather than guessing", () => {
    expect(mayAttempt(job, "runs:write")).toBe(true);
    expect(() => authorize(job, "runs:write")).toThrow(expect.objectContaining({ code: "FORBIDDEN" }));
  });

  it("refuses a job everything outside tracking, reading and inference", () => {
    const allowed = new Set(["platform:read", "catalog:read", "experiments:read", "runs:read", "models:read", "serving:read", "serving:infer", "runs:write", "runs:create", "jobs:read"]);
    for (const action of ACTIONS) expect(mayAttempt(job, action)).toBe(allowed.has(action));
  });
});
