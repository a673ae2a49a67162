// The documentation's examples run (issue 7, item 16): every `paved …` line in docs/*.md and
// README.md parses against the real CLI program and names profiles that exist, every YAML block
// that is a spec validates against the real schema, and sample outputs of commands whose output
// a fresh server fixes (`paved profiles ls`) are what the command prints.
import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createApp, type App } from "../src/app.ts";
import { checkSuggestedCommand, expandAlternatives, pavedCommandsIn } from "../src/cli/check-command-line.ts";
import { runCli } from "../src/cli/program.ts";
import { parseSpecDocuments } from "../src/cli/spec-file.ts";
import { configSchema, loadConfig } from "../src/config/index.ts";
import { parseInput } from "../src/core/index.ts";
import { ProfileCatalog } from "../src/modules/catalog/index.ts";
import { profilesFileSchema } from "../src/modules/catalog/schema.ts";
import { jobSpecSchema } from "../src/modules/compute/index.ts";
import { sweepSpecSchema } from "../src/modules/sweeps/index.ts";
import { pipelineSpecSchema } from "../src/modules/pipelines/index.ts";
import { parsePolicy } from "../src/modules/evaluation/index.ts";
import { PolicyDocument } from "../src/modules/guardrails/index.ts";
import { EnvironmentsFile } from "../src/modules/workspaces/index.ts";
import { createConnectorRegistry } from "../src/modules/datasets/connectors/index.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const connectors = createConnectorRegistry({ localRoots: [], allowedHosts: [], postgres: { statementTimeoutSeconds: 1, batchRows: 1 } });
const PAGES = [...readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`), "README.md"];
const SHELL = new Set(["", "console", "bash", "sh", "shell"]);
/** Commands whose whole output a fresh server with the built-in catalog fixes. */
const SAMPLED = new Set(["paved profiles ls"]);
const catalog = ProfileCatalog.load();
const PROFILES = new Set(catalog.list().map((p) => p.name));

interface Block {
  page: string;
  line: number;
  lang: string;
  text: string;
}

interface CommandLine {
  where: string;
  command: string;
  /** The lines printed after a `$ …` line of a console block. */
  output: string[];
}

function blocksOf(page: string): Block[] {
  const lines = readFileSync(join(ROOT, page), "utf8").split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push({ page, line: start + 1, lang: open[1]!.toLowerCase(), text: body.join("\n") });
  }
  return blocks;
}

/** Shell lines (continuations joined); with `$ ` prompts, only prompted lines, each with its output. */
function commandsOf(block: Block): CommandLine[] {
  const raw = block.text.replace(/\\\n\s*/g, " ").split("\n");
  const prompted = raw.some((l) => l.startsWith("$ "));
  const found: CommandLine[] = [];
  raw.forEach((line, i) => {
    if (prompted && !line.startsWith("$ ")) return;
    const text = prompted ? line.slice(2) : line;
    const output: string[] = [];
    if (prompted) for (let j = i + 1; j < raw.length && !raw[j]!.startsWith("$ "); j++) output.push(raw[j]!);
    for (const alternative of expandAlternatives(text)) {
      for (const command of pavedCommandsIn(alternative)) found.push({ where: `${block.page}:${block.line + 1 + i}`, command, output });
    }
  });
  return found;
}

const blocks = PAGES.flatMap(blocksOf);
const shellLines = blocks.filter((b) => SHELL.has(b.lang)).flatMap(commandsOf);
const yamlBlocks = blocks.filter((b) => b.lang === "yaml" || b.lang === "yml");

let app: App;
let url: string;
let token: string;
let dir: string;

async function paved(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const stdin = new PassThrough();
  stdin.end();
  const code = await runCli(["node", ...command.split(/\s+/)], {
    env: { PAVED_URL: url, PAVED_TOKEN: token, HOME: join(dir, "home") },
    cwd: dir,
    io: { stdout: { write: (s: string | Uint8Array) => (stdout += String(s)) }, stderr: { write: (s: string) => (stderr += s) }, stdin },
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "paved-docs-"));
  const config = loadConfig({ env: {}, overrides: { dataDir: join(dir, "data"), port: 0, host: "127.0.0.1", logLevel: "silent", compute: { gpus: [] } } });
  app = await createApp(config, { env: {} });
  url = await app.listen();
  token = app.generatedAdminToken!;
});

afterAll(async () => {
  await app?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the documentation's examples (issue 7, item 16)", () => {
  it("finds the examples (the extraction works)", () => {
    expect(shellLines.length).toBeGreaterThan(50);
    expect(shellLines.map((l) => l.command)).toContain("paved profiles ls");
    expect(yamlBlocks.some((b) => /^kind:|^command:/m.test(b.text))).toBe(true);
  });

  it("every `paved …` line parses against the real CLI and names profiles that exist", async () => {
    const failures: string[] = [];
    for (const { where, command } of shellLines) {
      const problem = await checkSuggestedCommand(command, PROFILES);
      if (problem) failures.push(`${where}: ${problem}`);
    }
    expect(failures).toEqual([]);
  });

  it("every YAML spec validates against the schema the server uses", () => {
    const failures: string[] = [];
    for (const block of yamlBlocks) {
      const where = `${block.page}:${block.line}`;
      try {
        const value = parseYaml(block.text) as Record<string, unknown> | null;
        if (!value || typeof value !== "object") continue;
        if (["local", "postgres", "s3"].includes(String(value.kind))) {
          // A dataset connector's spec: what POST /api/v1/datasets/:name/snapshots checks.
          connectors.parse(value);
        } else if (/^(kind|command):/m.test(block.text)) {
          // What `paved apply -f` sends, then what POST /api/v1/jobs (or /api/v1/sweeps) checks.
          for (const document of parseSpecDocuments(block.text, join(ROOT, "docs", "example.yaml"))) {
            if (document.kind === "Pipeline") {
              parseInput(pipelineSpecSchema, document.spec, "pipeline spec");
              continue;
            }
            const job = document.kind === "Sweep" ? parseInput(sweepSpecSchema, document.spec, "sweep spec").trial : parseInput(jobSpecSchema, document.spec, "job spec");
            if (job.compute?.profile) catalog.get(job.compute.profile);
          }
        } else if ("checks" in value) {
          parsePolicy(value);
        } else if ("profiles" in value) {
          parseInput(profilesFileSchema, value, "profiles file");
        } else if ("environments" in value) {
          parseInput(EnvironmentsFile, value, "workspace environments file");
        } else if (Object.keys(value).every((key) => key in configSchema.shape)) {
          parseInput(configSchema, value, "configuration");
        } else if (Object.keys(value).every((key) => key in PolicyDocument.shape)) {
          const policy = parseInput(PolicyDocument, value, "policy");
          if (policy.requiredGatePolicy) parsePolicy(policy.requiredGatePolicy);
          for (const profile of policy.allowedProfiles ?? []) catalog.get(profile);
        }
      } catch (error) {
        failures.push(`${where}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("sample outputs are what the command prints for the built-in catalog", async () => {
    const samples = shellLines.filter((l) => SAMPLED.has(l.command) && l.output.some((o) => o.trim()));
    expect(samples.length).toBeGreaterThan(0);
    for (const sample of samples) {
      const result = await paved(sample.command);
      expect(result.code, result.stderr).toBe(0);
      const expected = sample.output.join("\n").replace(/\n+$/, "");
      expect(`${sample.where}\n${expected}`).toBe(`${sample.where}\n${result.stdout.replace(/\n+$/, "")}`);
    }
  });
});
