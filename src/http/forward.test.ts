// A follower's forwarding to its leader, between real HTTP servers on the loopback.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FORWARDED_BY, leaderForwarder, leaderUpgradeForwarder, type LeaderForwarding } from "./forward.ts";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A follower: its forwarder first, then (as a leader would) a plain 200 of its own. */
async function follower(forwarding: LeaderForwarding, holdMs = 300): Promise<string> {
  const forward = leaderForwarder(forwarding, holdMs);
  const upgrade = leaderUpgradeForwarder(forwarding);
  const server = createServer((request, response) => {
    const here = () => response.end("answered here");
    if (!forward(request, response, here)) here();
  });
  server.on("upgrade", (request, socket, head) => {
    if (!upgrade(request, socket, head)) socket.end("HTTP/1.1 418 Here\r\ncontent-length: 0\r\n\r\n");
  });
  return listen(server);
}

function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? "GET", headers: init.headers ?? {} }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

describe("a follower's forwarding to the leader", () => {
  it("passes a request on as it came (method, path, Host, body), says who forwarded it, and pipes the answer back", async () => {
    const seen: { method?: string; url?: string; headers?: IncomingMessage["headers"]; body?: string }[] = [];
    const leader = await listen(
      createServer((request, response) => {
        let body = "";
        request.on("data", (d) => (body += d));
        request.on("end", () => {
          seen.push({ method: request.method, url: request.url, headers: request.headers, body });
          response.writeHead(201, { "x-from": "leader" }).end("made");
        });
      }),
    );
    const self = "http://follower.example:1";
    const url = await follower({ leads: () => false, leaderUrl: async () => leader, self: () => self });
    const answer = await send(`${url}/api/v1/jobs?x=1`, { method: "POST", headers: { host: "paved.example", authorization: "Bearer t", "content-type": "application/json" }, body: '{"a":1}' });
    expect(answer).toMatchObject({ status: 201, body: "made" });
    expect(answer.headers["x-from"]).toBe("leader");
    expect(seen[0]).toMatchObject({ method: "POST", url: "/api/v1/jobs?x=1", body: '{"a":1}' });
    expect(seen[0]!.headers).toMatchObject({ host: "paved.example", authorization: "Bearer t", [FORWARDED_BY]: self, "x-forwarded-for": "127.0.0.1" });
    // The health check is always the replica's own, and so is a target that is not a path ("*").
    expect((await send(`${url}/api/v1/health`)).body).toBe("answered here");
    const port = new URL(url).port;
    const star = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "*", method: "OPTIONS" }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      });
      req.on("error", reject);
      req.end();
    });
    expect(star).toBe("answered here");
    expect(seen).toHaveLength(1);
  });

  it("answers 503 with Retry-After while no replica leads, when the leader is down, and to a request forwarded once already", async () => {
    let leader: string | null = null;
    const url = await follower({ leads: () => false, leaderUrl: async () => leader, self: () => "http://me:1" });
    const none = await send(`${url}/api/v1/jobs`, { method: "POST", body: "{}" });
    expect(none.status).toBe(503);
    expect(none.headers["retry-after"]).toBe("1");
    expect(JSON.parse(none.body).error).toMatchObject({ code: "UNAVAILABLE", message: expect.stringContaining("no replica leads") });
    // A leader that is gone: nothing listens at its port any more.
    const gone = createServer();
    leader = await listen(gone);
    await new Promise((r) => gone.close(r));
    servers.splice(servers.indexOf(gone), 1);
    const down = await send(`${url}/api/v1/jobs`);
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body).error.message).toMatch(/did not answer \(ECONNREFUSED\) and no other replica leads yet/);
    // Never passed on twice, never answered by a replica that does not lead.
    const twice = await send(`${url}/api/v1/jobs`, { headers: { [FORWARDED_BY]: "http://other:1" } });
    expect(twice.status).toBe(503);
    expect(JSON.parse(twice.body).error.message).toMatch(/does not lead/);
  });

  it("holds a request through an election: it reaches the new leader with its body, or this replica's routes if it is elected", async () => {
    const bodies: string[] = [];
    const newLeader = createServer((request, response) => {
      let body = "";
      request.on("data", (d) => (body += d));
      request.on("end", () => {
        bodies.push(body);
        response.end("new leader");
      });
    });
    const gone = createServer();
    const old = await listen(gone);
    await new Promise((r) => gone.close(r));
    servers.splice(servers.indexOf(gone), 1);
    let leader: string | null = old;
    const url = await follower({ leads: () => false, leaderUrl: async () => leader, self: () => "http://me:1" }, 5_000);
    // The old leader is gone (refused) and, 300 ms later, another is elected.
    setTimeout(() => void listen(newLeader).then((u) => (leader = u)), 300);
    const held = await send(`${url}/api/v1/jobs`, { method: "POST", body: '{"name":"held"}' });
    expect(held).toMatchObject({ status: 200, body: "new leader" });
    expect(bodies).toEqual(['{"name":"held"}']);
    // This replica is elected while it holds a request: its own routes answer.
    let leads = false;
    leader = null;
    const own = await follower({ leads: () => leads, leaderUrl: async () => leader, self: () => "http://me:1" }, 5_000);
    setTimeout(() => (leads = true), 300);
    expect((await send(`${own}/api/v1/jobs`, { method: "POST", body: "{}" })).body).toBe("answered here");
  });

  it("forwards a websocket upgrade and joins the two connections; a leader answers it itself", async () => {
    const leaderServer = createServer();
    leaderServer.on("upgrade", (request, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-forwarded-by-seen: ${request.headers[FORWARDED_BY]}\r\nx-host-seen: ${request.headers.host}\r\n\r\n`);
      socket.on("data", (d) => socket.write(`echo:${d}`));
      socket.on("end", () => socket.end());
    });
    const leader = await listen(leaderServer);
    let leads = false;
    const url = new URL(await follower({ leads: () => leads, leaderUrl: async () => leader, self: () => "http://me:1" }));
    const talk = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write("GET /workspaces/w/api/kernels/k/channels HTTP/1.1\r\nHost: paved.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        });
        let text = "";
        socket.on("data", (d) => {
          text += d;
          if (text.includes("\r\n\r\n") && text.startsWith("HTTP/1.1 101") && !text.includes("echo:")) socket.write("ping");
          if (text.includes("echo:ping") || text.startsWith("HTTP/1.1 418")) socket.end();
        });
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
      });
    const through = await talk();
    expect(through).toMatch(/^HTTP\/1\.1 101/);
    expect(through).toContain("x-forwarded-by-seen: http://me:1");
    expect(through).toContain("x-host-seen: paved.example");
    expect(through).toContain("echo:ping");
    leads = true;
    expect(await talk()).toMatch(/^HTTP\/1\.1 418/);
  });
});
