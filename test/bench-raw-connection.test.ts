// The tracking bench's load client (bench/support.ts RawConnection) against a real node:http
// server: what it reads back is what the server answered, or an error, never a wrong figure.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRequest, RawConnection } from "../bench/support.ts";

let server: http.Server;
let base: string;
const seen: { method?: string; url?: string; auth?: string; type?: string; body: string }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers["content-type"], body });
      if (req.url === "/split") {
        // Headers, then the body in two writes some time apart.
        const text = JSON.stringify({ got: body.length });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.flushHeaders();
        res.write(text.slice(0, 3));
        setTimeout(() => res.end(text.slice(3)), 20);
      } else if (req.url === "/chunked") {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        res.end("{}");
      } else if (req.url === "/hang-up") {
        req.socket.destroy();
      } else {
        const text = JSON.stringify({ error_code: "INVALID_PARAMETER_VALUE", n: body.length });
        res.writeHead(req.url === "/refuse" ? 400 : 200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  // Short, so that a test can wait past it: an idle keep-alive socket is closed by the server.
  server.keepAliveTimeout = 300;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("RawConnection", () => {
  it("sends encoded requests one after another on one socket and reads each answer whole", async () => {
    const connection = await RawConnection.open(base);
    const body = JSON.stringify({ run_id: "r", metrics: [{ key: "é", value: 1 }] });
    const first = await connection.send(encodeRequest("POST", base, "/ok", body, "tok"));
    const split = await connection.send(encodeRequest("POST", base, "/split", body));
    const refused = await connection.send(encodeRequest("POST", base, "/refuse", "{}"));
    connection.close();
    expect(first).toEqual({ status: 200, text: JSON.stringify({ error_code: "INVALID_PARAMETER_VALUE", n: body.length }) });
    expect(split).toEqual({ status: 200, text: JSON.stringify({ got: body.length }) });
    expect(refused.status).toBe(400);
    expect(seen.slice(-3).map((s) => [s.method, s.url, s.auth, s.type, s.body])).toEqual([
      ["POST", "/ok", "Bearer tok", "application/json", body],
      ["POST", "/split", undefined, "application/json", body],
      ["POST", "/refuse", undefined, "application/json", "{}"],
    ]);
  });

  it("opens a new socket when the server closed the last one while it was idle", async () => {
    const connection = await RawConnection.open(base);
    expect((await connection.send(encodeRequest("POST", base, "/ok", "{}"))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 800)); // past the server's keep-alive timeout
    expect((await connection.send(encodeRequest("POST", base, "/ok", "{}"))).status).toBe(200);
    connection.close();
    await expect(connection.send(encodeRequest("POST", base, "/ok", "{}"))).rejects.toThrow(/closed/);
  });

  it("fails an answer without a Content-Length, a socket closed before the answer, and a second request in flight", async () => {
    const chunked = await RawConnection.open(base);
    await expect(chunked.send(encodeRequest("POST", base, "/chunked", "{}"))).rejects.toThrow(/without Content-Length/);
    await expect(chunked.send(encodeRequest("POST", base, "/ok", "{}"))).rejects.toThrow(/without Content-Length/);

    const hungUp = await RawConnection.open(base);
    await expect(hungUp.send(encodeRequest("POST", base, "/hang-up", "{}"))).rejects.toThrow(/closed the connection before its answer/);

    const busy = await RawConnection.open(base);
    const pending = busy.send(encodeRequest("POST", base, "/split", "{}"));
    await expect(busy.send(encodeRequest("POST", base, "/ok", "{}"))).rejects.toThrow(/one request at a time/);
    expect((await pending).status).toBe(200);
    busy.close();
  });
});
