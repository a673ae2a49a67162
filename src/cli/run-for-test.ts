import { PassThrough } from "node:stream";
import { runCli } from "./program.ts";

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export interface TestRun {
  code: number;
  stdout: string;
  stderr: string;
  requests: FakeRequest[];
}

/**
 * Runs the `paved` program in-process against a fake server (`respond` answers each request), so
 * argument parsing and rendering are tested without a network. Shared by the CLI's unit tests.
 */
export async function runForTest(
  args: string[],
  respond: (request: FakeRequest) => unknown = () => ({}),
  options: { cwd?: string; env?: Record<string, string>; now?: number } = {},
): Promise<TestRun> {
  const requests: FakeRequest[] = [];
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const request = {
      method: init?.method ?? "GET",
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      // Uploads send bytes; the test sees them as text.
      body: init?.body ? (typeof init.body === "string" ? JSON.parse(init.body) : { bytes: Buffer.from(init.body as Uint8Array).toString("utf8") }) : undefined,
    };
    requests.push(request);
    const answer = respond(request);
    if (answer instanceof Response) return answer;
    return new Response(JSON.stringify(answer), { headers: { "content-type": "application/json" } });
  }) as typeof fetch;
  let stdout = "";
  let stderr = "";
  const stdin = new PassThrough();
  stdin.end();
  const code = await runCli(["node", "paved", ...args], {
    env: { PAVED_URL: "http://paved.test", PAVED_TOKEN: "pvd_test", HOME: "/nonexistent-home", ...options.env },
    cwd: options.cwd ?? "/work/project",
    fetch: fakeFetch,
    now: () => options.now ?? 1_700_000_000_000,
    sleep: async () => undefined,
    io: { stdout: { write: (s: string | Uint8Array) => (stdout += typeof s === "string" ? s : Buffer.from(s).toString("utf8")) }, stderr: { write: (s: string) => (stderr += s) }, stdin },
  });
  return { code, stdout, stderr, requests };
}
