import { describe, expect, it } from "vitest";
import { PavedClient } from "./paved-client.ts";

interface Seen {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

function fakeFetch(respond: (seen: Seen) => Response): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const impl = async (input: string | URL | Request, init?: RequestInit) => {
    const request: Seen = {
      url: new URL(String(input)),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    };
    seen.push(request);
    return respond(request);
  };
  return { fetch: impl as typeof fetch, seen };
}

const json = (value: unknown, status = 200) => new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

describe("PavedClient", () => {
  it("sends the bearer token and the query, dropping empty values", async () => {
    const { fetch, seen } = fakeFetch(() => json({ runs: [] }));
    const client = new PavedClient({ url: "http://paved.test:8080/", token: "pvd_x", fetch });
    await client.listRuns({ experiment: "mnist", filter: "metrics.loss < 0.5", limit: 5, status: "" });
    expect(seen[0]?.url.pathname).toBe("/api/v1/runs");
    expect(Object.fromEntries(seen[0]!.url.searchParams)).toEqual({ experiment: "mnist", filter: "metrics.loss < 0.5", limit: "5" });
    expect(seen[0]?.headers.authorization).toBe("Bearer pvd_x");
  });

  it("posts a job spec as JSON and escapes ids in paths", async () => {
    const { fetch, seen } = fakeFetch(() => json({ id: "job_1" }));
    const client = new PavedClient({ url: "http://paved.test", token: "t", fetch });
    await client.submitJob({ name: "n", command: ["echo"], workingDir: "/tmp" });
    await client.getMetricHistory("run/1", "val loss");
    expect(seen[0]).toMatchObject({ method: "POST", body: { name: "n", command: ["echo"], workingDir: "/tmp" } });
    expect(seen[0]?.headers["content-type"]).toBe("application/json");
    expect(seen[1]?.url.pathname).toBe("/api/v1/runs/run%2F1/metrics/val%20loss");
  });

  it("throws the server's error code, message and details", async () => {
    const { fetch } = fakeFetch(() =>
      json({ error: { code: "NOT_FOUND", message: "job 'x' does not exist", details: { id: "x" } } }, 404),
    );
    const client = new PavedClient({ url: "http://paved.test", fetch });
    await expect(client.getJob("x")).rejects.toMatchObject({ name: "PlatformError", code: "NOT_FOUND", message: "job 'x' does not exist", details: { id: "x" } });
  });

  it("maps a foreign error body by its HTTP status", async () => {
    const { fetch } = fakeFetch(() => new Response("<html>bad gateway</html>", { status: 502 }));
    await expect(new PavedClient({ url: "http://paved.test", fetch }).health()).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });

  it("turns a network failure into UNAVAILABLE naming the URL", async () => {
    const fetch = (async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") });
    }) as typeof globalThis.fetch;
    const error = await new PavedClient({ url: "http://127.0.0.1:1", fetch }).whoami().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "UNAVAILABLE", details: { url: "http://127.0.0.1:1" } });
    expect((error as Error).message).toContain("http://127.0.0.1:1");
  });

  it("streams logs as text and passes follow and attempt", async () => {
    const encoder = new TextEncoder();
    const { fetch, seen } = fakeFetch(
      () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode("line 1\n"));
              controller.enqueue(encoder.encode("line 2\n"));
              controller.close();
            },
          }),
          { headers: { "content-type": "text/plain" } },
        ),
    );
    let text = "";
    for await (const chunk of new PavedClient({ url: "http://paved.test", fetch }).streamLogs("job_1", { follow: true, attempt: 2 })) text += chunk;
    expect(text).toBe("line 1\nline 2\n");
    expect(Object.fromEntries(seen[0]!.url.searchParams)).toEqual({ follow: "true", attempt: "2" });
  });
});
