import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../core/index.ts";
import { DocsLibrary } from "../../core/docs-library.ts";
import { buildServer } from "../../http/index.ts";
import { docsRoutes } from "./index.ts";

// A docs folder of its own beside a file it must never serve.
const root = mkdtempSync(join(tmpdir(), "paved-docs-"));
const dir = join(root, "docs");
mkdirSync(dir);
writeFileSync(join(root, "secret.md"), "# Secret\nnot documentation\n");
writeFileSync(join(dir, "jobs.md"), "# Jobs\n\nA job runs your program.\n\n## Logs\n\nFollow a job's logs with `paved jobs logs -f`.\n\n```sh\n# not a heading\npaved jobs logs job-1\n```\n");
writeFileSync(join(dir, "pipelines.md"), "# Pipelines\n\nSteps run as jobs; a step's logs are its job's logs.\n");
writeFileSync(join(dir, "notes.txt"), "not a topic\n");

describe("the documentation routes", async () => {
  const server = buildServer({
    routes: docsRoutes(new DocsLibrary(pathToFileURL(`${dir}/`))),
    tokens: undefined,
    logger: createLogger("silent"),
    bodyLimit: 1024,
    uploadLimit: 1024,
    requestTimeoutMs: 60_000,
  });
  await server.ready();
  afterAll(() => server.close());
  const get = (url: string) => server.inject({ method: "GET", url });

  it("lists the markdown topics with their titles", async () => {
    const res = await get("/api/v1/docs");
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ topics: [{ topic: "jobs", title: "Jobs" }, { topic: "pipelines", title: "Pipelines" }] });
  });

  it("answers a topic's markdown, and NOT_FOUND naming the topics for anything not listed", async () => {
    const page = await get("/api/v1/docs/jobs");
    expect(page.statusCode).toBe(200);
    expect(page.json()).toMatchObject({ topic: "jobs", title: "Jobs", markdown: expect.stringContaining("## Logs") });
    for (const name of ["secret", "..%2Fsecret", "..%2F..%2Fpackage.json", "notes.txt", "notes", "%2Fetc%2Fpasswd", "jobs%00"]) {
      const res = await get(`/api/v1/docs/${name}`);
      expect(res.statusCode, name).toBe(404);
      expect(res.json().error.code, name).toBe("NOT_FOUND");
      expect(res.body, name).not.toContain("not documentation");
    }
    expect((await get("/api/v1/docs/nope")).json().error.details.knownTopics).toEqual(["jobs", "pipelines"]);
  });

  it("searches every topic for all the words, case-insensitively, with the matching lines under their headings", async () => {
    const res = (await get("/api/v1/docs?q=LOGS%20job")).json();
    expect(res.topics.map((t: { topic: string }) => t.topic)).toEqual(["jobs", "pipelines"]);
    expect(res.topics[0].matches).toContainEqual({ heading: "Logs", snippet: "Follow a job's logs with `paved jobs logs -f`." });
    // A line in a code block is not a heading.
    expect(res.topics[0].matches).toContainEqual({ heading: "Logs", snippet: "paved jobs logs job-1" });
    expect((await get("/api/v1/docs?q=canary")).json()).toEqual({ topics: [] });
    // Patterns are text: a regex is searched for literally.
    expect((await get(`/api/v1/docs?q=${encodeURIComponent("(a+)+$")}`)).json()).toEqual({ topics: [] });
    expect((await get(`/api/v1/docs?q=${"x".repeat(201)}`)).json().error.code).toBe("INVALID_INPUT");
  });

  it("serves the real docs/ (what `paved docs` prints)", async () => {
    const docs = new DocsLibrary();
    const topics = await docs.topics();
    expect(topics).toContainEqual({ topic: "cli", title: "The `paved` command line" });
    expect((await docs.read("pipelines")).markdown).toMatch(/^# /);
  });
});
