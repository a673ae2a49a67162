// Live updates over server-sent events (GET /api/v1/events) against a real Paved: a job's state
// changes reach its team's subscribers and no one else's; a reconnecting client resumes with
// Last-Event-ID; streams are bounded per user and end with their token; a follower replica passes a
// stream on from its leader; and a signed-in page's EventSource (Chromium) receives events.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { createApp, type App } from "../src/app.ts";
import { loadConfig } from "../src/config/index.ts";
import { DEFAULT_EVENT_TIMING } from "../src/modules/events/index.ts";
import { testDialects, testPostgresUrl } from "./support/databases.ts";
import { launchBrowser, openContext, signIn, startUiServer, type UiServer } from "./support/ui.ts";

interface Frame {
  id?: string;
  event: string;
  data: string;
}

interface Sse {
  status: number;
  headers: IncomingMessage["headers"];
  /** The events received so far (comments left out). */
  frames: Frame[];
  /** The whole text received so far. */
  text(): string;
  ended: Promise<void>;
  close(): void;
}

/** Opens an event stream the way any HTTP client would, and parses its frames as they come. */
function openSse(url: string, headers: Record<string, string> = {}): Promise<Sse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: "text/event-stream", ...headers } }, (res) => {
      const frames: Frame[] = [];
      let text = "";
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const frame: Frame = { event: "message", data: "" };
          let hasData = false;
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) frame.id = line.slice(4);
            else if (line.startsWith("event: ")) frame.event = line.slice(7);
            else if (line.startsWith("data: ")) {
              frame.data += line.slice(6);
              hasData = true;
            }
          }
          if (hasData) frames.push(frame);
        }
      });
      const ended = new Promise<void>((r) => {
        res.once("end", () => r());
        res.once("close", () => r());
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, frames, text: () => text, ended, close: () => req.destroy() });
    });
    req.on("error", (error) => ((error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error)));
    req.end();
  });
}

const changes = (sse: Sse) => sse.frames.filter((f) => f.event === "message").map((f) => JSON.parse(f.data) as { topic: string; kind: string; id: string; team: string; state?: string; at: number });

describe("live updates over server-sent events", () => {
  let server: UiServer;
  let ada: Record<string, string>;
  let bob: Record<string, string>;
  const open: Sse[] = [];
  const stream = async (headers: Record<string, string>, query = "topics=jobs") => {
    const sse = await openSse(`${server.url}/api/v1/events?${query}`, headers);
    open.push(sse);
    return sse;
  };
  const submit = async (who: Record<string, string>, name: string, command = ["/bin/true"]) => {
    const response = await fetch(`${server.url}/api/v1/jobs`, {
      method: "POST",
      headers: { ...who, "content-type": "application/json" },
      body: JSON.stringify({ name, command, workingDir: tmpdir(), compute: { cpus: 1, memory: 64 } }),
    });
    const body = (await response.json()) as { id: string };
    expect(response.status, JSON.stringify(body)).toBe(200);
    return body.id as string;
  };
  const jobPhase = async (id: string) => (await server.api("GET", `/api/v1/jobs/${id}`)).phase as string;

  beforeAll(async () => {
    server = await startUiServer({ config: { compute: { gpus: [], cpus: 4, memoryMiB: 4096 } } });
    for (const team of ["alpha", "beta"]) await server.api("POST", "/api/v1/teams", { name: team });
    const person = async (name: string, team: string) => {
      const user = await server.api("POST", "/api/v1/users", { name, teams: [{ team, role: "developer" }] });
      return { authorization: `Bearer ${(await server.app.tokens.createPersonal({ userId: user.id, name: "live", team })).token}` };
    };
    ada = await person("ada", "alpha");
    bob = await person("bob", "beta");
  }, 60_000);
  afterAll(async () => {
    for (const sse of open) sse.close();
    // After jobs ran, closing the app takes about 50 s here (its controllers' stop, with or without streams).
    await server?.close();
  }, 300_000);

  it("answers 401 without credentials and 400 for a topic it does not know", async () => {
    const anonymous = await fetch(`${server.url}/api/v1/events?topics=jobs`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe("UNAUTHENTICATED");
    const unknown = await fetch(`${server.url}/api/v1/events?topics=jobs,gossip`, { headers: ada });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("INVALID_INPUT");
  });

  it("tells a job's state changes to its team, and to nobody of another team", async () => {
    const adaStream = await stream(ada);
    const bobStream = await stream(bob);
    expect(adaStream.status).toBe(200);
    expect(adaStream.headers["content-type"]).toContain("text/event-stream");
    expect(adaStream.headers["cache-control"]).toContain("no-cache");
    const adaJob = await submit(ada, "ada-live");
    const bobJob = await submit(bob, "bob-live");
    await expect.poll(() => changes(adaStream).find((e) => e.id === adaJob && e.state === "SUCCEEDED"), { timeout: 60_000 }).toMatchObject({ topic: "jobs", kind: "job", team: "alpha" });
    await expect.poll(() => changes(bobStream).find((e) => e.id === bobJob && e.state === "SUCCEEDED"), { timeout: 60_000 }).toMatchObject({ team: "beta" });
    // Each saw its own job, and never the other's.
    expect(changes(adaStream).every((e) => e.team === "alpha")).toBe(true);
    expect(changes(bobStream).every((e) => e.team === "beta")).toBe(true);
    // The platform admin sees both.
    const adminStream = await stream(server.admin);
    const third = await submit(bob, "bob-again");
    await expect.poll(() => changes(adminStream).some((e) => e.id === third), { timeout: 60_000 }).toBe(true);
    expect(changes(adaStream).some((e) => e.id === third)).toBe(false);
    adaStream.close();
    bobStream.close();
    adminStream.close();
  });

  it("resumes after Last-Event-ID with what the client missed, which a new stream does not replay", async () => {
    const first = await stream(ada);
    const before = await submit(ada, "before-the-break");
    await expect.poll(() => first.frames.find((f) => f.data.includes(before) && f.data.includes("SUCCEEDED")), { timeout: 60_000 }).toBeDefined();
    const lastId = first.frames.at(-1)!.id!;
    expect(lastId).toMatch(/^\d+$/);
    first.close();
    // While nobody listens, another job runs its course.
    const missed = await submit(ada, "while-away");
    await expect.poll(() => jobPhase(missed), { timeout: 60_000 }).toBe("SUCCEEDED");
    const fresh = await stream(ada);
    const resumed = await stream({ ...ada, "last-event-id": lastId });
    await expect.poll(() => changes(resumed).find((e) => e.id === missed && e.state === "SUCCEEDED"), { timeout: 30_000 }).toBeDefined();
    // The fresh stream hears what happens from now on, and nothing the feed had told before it came.
    const marker = await submit(ada, "marker");
    await expect.poll(() => changes(fresh).some((e) => e.id === marker), { timeout: 60_000 }).toBe(true);
    expect(changes(fresh).filter((e) => e.id === before)).toEqual([]);
    // A cursor older than the replay window asks the client to reload instead.
    const stale = await stream(ada, `topics=jobs&lastEventId=${Date.now() - 2 * 60 * 60 * 1000}`);
    await expect.poll(() => stale.frames.find((f) => f.event === "reset")?.data).toBe('{"topic":"jobs"}');
    for (const sse of [fresh, resumed, stale]) sse.close();
  });

  it("holds at most a few streams per user (429 beyond), and ends a stream when its token ends", async () => {
    const user = await server.api("POST", "/api/v1/users", { name: "cleo", teams: [{ team: "alpha", role: "viewer" }] });
    const { token } = await server.app.tokens.createPersonal({ userId: user.id, name: "short", team: "alpha", expiresAt: Date.now() + 3_000 });
    const { token: other } = await server.app.tokens.createPersonal({ userId: user.id, name: "other", team: "alpha" });
    const cleo = { authorization: `Bearer ${token}` };
    const max = DEFAULT_EVENT_TIMING.maxPerPrincipal;
    const held: Sse[] = [];
    for (let i = 0; i < max; i++) held.push(await stream(i === 0 ? cleo : { authorization: `Bearer ${other}` }, "topics=jobs,runs"));
    expect(held.map((s) => s.status)).toEqual(held.map(() => 200));
    // The bound is the user's, whichever of their tokens opens the stream.
    const refused = await fetch(`${server.url}/api/v1/events?topics=jobs`, { headers: { authorization: `Bearer ${other}` } });
    expect(refused.status).toBe(429);
    const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe("QUOTA_EXCEEDED");
    expect(error.message).toContain(`${max} event streams`);
    // The short token expires: its stream ends, saying why, and its place is free again.
    await held[0]!.ended;
    expect(held[0]!.frames.find((f) => f.event === "end")?.data).toContain("UNAUTHENTICATED");
    await expect
      .poll(async () => {
        const again = await stream({ authorization: `Bearer ${other}` });
        again.close();
        return again.status;
      })
      .toBe(200);
    for (const sse of held) sse.close();
  }, DEFAULT_EVENT_TIMING.recheckMs * 3);

  it("reaches a signed-in page's EventSource in Chromium, with the session cookie", async () => {
    const browser: Browser = await launchBrowser();
    try {
      const { page: newPage, problems } = await openContext(browser);
      const page = await newPage();
      await signIn(page, server.url, server.token, "/");
      // As page script (the root tsconfig has no DOM types): an EventSource of the page's own origin, with its session cookie.
      await page.evaluate(`
        window.received = [];
        window.opened = false;
        const source = new EventSource("/api/v1/events?topics=jobs,runs");
        source.onopen = () => (window.opened = true);
        source.onmessage = (message) => window.received.push(message.data);
      `);
      await expect.poll(() => page.evaluate("window.opened")).toBe(true);
      const job = await submit(ada, "seen-in-the-browser");
      await expect.poll(async () => (await page.evaluate("window.received.join('\\n')")) as string, { timeout: 60_000 }).toContain(job);
      expect(problems()).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});

describe.skipIf(!testDialects().includes("postgres"))("events through a follower replica", () => {
  const apps: App[] = [];
  afterAll(async () => {
    for (const app of apps.reverse()) await app.close();
  });

  it("passes a stream on from the leader as it comes, and lets go of it when the client leaves", async () => {
    const databaseUrl = await testPostgresUrl();
    const dataDir = mkdtempSync(join(tmpdir(), "paved-live-replicas-"));
    const adminToken = "pvd_live-events-replica-token-0123456789";
    const start = async () => {
      const app = await createApp(loadConfig({ env: {}, overrides: { dataDir, databaseUrl, logLevel: "silent", host: "127.0.0.1", port: 0, compute: { gpus: [] }, auth: { adminToken } } }), { env: process.env });
      apps.push(app);
      return { app, url: await app.listen() };
    };
    const leader = await start();
    const follower = await start();
    expect(leader.app.role().leads).toBe(true);
    expect(follower.app.role().leads).toBe(false);
    const admin = { authorization: `Bearer ${adminToken}` };
    const sse = await openSse(`${follower.url}/api/v1/events?topics=jobs`, admin);
    expect(sse.status).toBe(200);
    expect(sse.headers["content-type"]).toContain("text/event-stream");
    const response = await fetch(`${follower.url}/api/v1/jobs`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ name: "through-the-follower", command: ["/bin/true"], workingDir: tmpdir(), compute: { cpus: 1, memory: 64 } }),
    });
    const job = ((await response.json()) as { id: string }).id;
    await expect.poll(() => changes(sse).find((e) => e.id === job && e.state === "SUCCEEDED"), { timeout: 60_000 }).toBeDefined();
    // The stream lives at the leader; closing it at the follower closes it there too.
    sse.close();
    await expect.poll(async () => {
      const held: Sse[] = [];
      for (let i = 0; i < DEFAULT_EVENT_TIMING.maxPerPrincipal; i++) held.push(await openSse(`${follower.url}/api/v1/events?topics=jobs`, admin));
      for (const s of held) s.close();
      return held.map((s) => s.status).every((s) => s === 200);
    }, { timeout: 20_000 }).toBe(true);
  }, 120_000);
});
