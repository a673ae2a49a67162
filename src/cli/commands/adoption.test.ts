import { describe, expect, it } from "vitest";
import type { AdoptionReport } from "../../client/index.ts";
import { runForTest } from "../run-for-test.ts";

const DAY = 86_400_000;
const SINCE = Date.UTC(2026, 2, 2);
const UNTIL = SINCE + 28 * DAY;

const report: AdoptionReport = {
  since: SINCE,
  until: UNTIL,
  generatedAt: UNTIL,
  activeUsers: { lastDay: 0, last7Days: 3, window: 5, dailyAverage: 0.8214, weeklyAverage: 2.5 },
  activeTeams: { lastDay: 0, last7Days: 2, window: 2, dailyAverage: 0.7857, weeklyAverage: 1.75 },
  daily: [],
  weekly: [0, 1, 2, 3].map((w) => ({ from: SINCE + w * 7 * DAY, to: SINCE + (w + 1) * 7 * DAY, users: 3 - (w % 2), teams: 2 })),
  teams: [{ team: "fraud", activeUsers: 2, runs: 6, jobs: 1, gpuHours: 1.5, workspaces: 2, modelVersions: 4, deployments: 4, productionDeployments: 2 }],
  funnel: [
    { stage: "workspace", users: 2, throughPath: 2, conversion: null },
    { stage: "run", users: 4, throughPath: 2, conversion: 1 },
    { stage: "registered", users: 2, throughPath: 1, conversion: 0.5 },
    { stage: "gated", users: 2, throughPath: 1, conversion: 1 },
    { stage: "production", users: 2, throughPath: 1, conversion: 1 },
  ],
  timeToValue: { newUsers: 4, firstRun: { count: 4, p50Seconds: 3 * 3600 }, firstProduction: { count: 2, p50Seconds: 98 * 3600 } },
  delivery: {
    productionDeployments: 4,
    perWeek: 1,
    leadTime: { count: 4, p50Seconds: 74.5 * 3600 },
    withoutRun: 0,
    finishedRollouts: 8,
    failedRollouts: 4,
    changeFailureRate: 0.5,
    timeToRestore: { count: 3, p50Seconds: 50 * 3600 },
    unrestored: 1,
  },
  satisfaction: { responses: 3, meanScore: 3.6667, distribution: [0, 1, 0, 1, 1], satisfied: 0.6667, byTeam: [] },
};

describe("paved adoption and paved feedback", () => {
  it("asks for the window and renders a readable report, people kept out unless asked", async () => {
    const run = await runForTest(["adoption", "--since", "7d"], () => report);
    expect(run.code).toBe(0);
    expect(run.requests[0]).toMatchObject({ method: "GET", path: "/api/v1/adoption", query: { since: "7d" } });
    expect(run.requests[0]!.query.perUser).toBeUndefined();
    expect(run.stdout).toContain("Adoption from 2026-03-02 00:00 UTC to 2026-03-30 00:00 UTC (28 days)");
    expect(run.stdout).toMatch(/active people:\s+0 last day, 3 last 7 days, 5 in the window/);
    expect(run.stdout).toMatch(/registered\s+2\s+1\s+50%/);
    expect(run.stdout).toMatch(/sign-in to first run:\s+p50 3h00m \(4 people\)/);
    expect(run.stdout).toMatch(/lead time, run to production:\s+p50 3d2h \(4 promotions\)/);
    expect(run.stdout).toMatch(/change failure rate:\s+50% \(4 of 8 rolled back or failed\)/);
    expect(run.stdout).toMatch(/time to restore:\s+p50 2d2h \(3 restored\); 1 not restored yet/);
    expect(run.stdout).not.toContain("PERSON");

    const users = await runForTest(["adoption", "--users"], () => ({
      ...report,
      users: [{ user: "ada", teams: ["fraud"], firstSignIn: SINCE, firstRun: SINCE + 3_600_000, firstProduction: null, activeDays: 9, runs: 4, stages: ["workspace", "run"] }],
      feedback: [{ id: "fb-1", user: "ada", team: "fraud", score: 5, comment: "smooth", context: "first-run", createdAt: SINCE }],
    }));
    expect(users.requests[0]!.query.perUser).toBe("true");
    expect(users.stdout).toMatch(/ada\s+fraud\s+2026-03-02 00:00 UTC\s+2026-03-02 01:00 UTC\s+-\s+9\s+4\s+workspace,run/);
    expect(users.stdout).toMatch(/ada\s+fraud\s+5\s+first-run\s+smooth/);
  });

  it("sends feedback and refuses a score that is not a number before asking", async () => {
    const run = await runForTest(["feedback", "--score", "4", "--comment", "good docs", "--context", "first-run"], (r) => ({ id: "fb-1", user: "ada", team: "fraud", score: (r.body as { score: number }).score, comment: "good docs", context: "first-run", createdAt: 1 }));
    expect(run.code).toBe(0);
    expect(run.requests[0]).toMatchObject({ method: "POST", path: "/api/v1/feedback", body: { score: 4, comment: "good docs", context: "first-run" } });
    expect(run.stdout).toContain("feedback fb-1 recorded (score 4, team fraud)");
    const bad = await runForTest(["feedback", "--score", "great"]);
    expect(bad.code).not.toBe(0);
    expect(bad.requests).toHaveLength(0);
  });
});
