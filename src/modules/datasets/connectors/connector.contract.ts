import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { isPlatformError, type ErrorCode } from "../../../core/index.ts";
import type { Connector, ConnectorLimits, SecretReader } from "./connector.ts";
import { ConnectorRegistry } from "./registry.ts";

/** What a connector's test file gives the contract: the connector, a source it can read, and what must be refused. */
export interface ConnectorTarget {
  connector: Connector;
  /** A spec reading a small source that exists. */
  spec: Record<string, unknown>;
  /** The files that spec produces (relative paths, sorted). */
  files: string[];
  /** The team's secrets (the real secrets service's reader) and the values the spec's secrets hold. */
  secrets: SecretReader;
  secretValues: string[];
  /** Specs refused because they reach outside what an admin allowed (a root, a host), each with its code. */
  outside: { why: string; spec: Record<string, unknown>; code: ErrorCode }[];
  /** The spec with one of its secrets renamed to one the team lacks; a string: why the case does not apply. */
  missingSecret: Record<string, unknown> | string;
}

const LIMITS: ConnectorLimits = { maxBytes: 1024 ** 3, maxFiles: 10_000, maxRows: 10_000_000 };

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return isPlatformError(error) ? error.code : `not a PlatformError: ${String(error)}`;
  }
  return undefined;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * The behaviour every connector must show. Each connector's test calls this with its target; a case
 * that cannot apply to a connector is skipped with its written reason, never silently.
 */
export function connectorContract(name: string, target: () => ConnectorTarget | Promise<ConnectorTarget>): void {
  describe(`connector contract: ${name}`, () => {
    const scratch = () => mkdtemp(join(tmpdir(), "paved-connector-"));
    const context = async (t: ConnectorTarget, limits: ConnectorLimits = LIMITS, signal: AbortSignal = new AbortController().signal) => ({ team: "risk", secrets: t.secrets, scratchDir: await scratch(), limits, signal });

    it("takes a strict spec: a credential written into it (or any unknown field) is refused", async () => {
      const t = await target();
      const registry = new ConnectorRegistry([t.connector]);
      expect(registry.parse(t.spec).connector.kind).toBe(t.connector.kind);
      for (const field of ["password", "secretAccessKey", "token"]) {
        let error: unknown;
        try {
          registry.parse({ ...t.spec, [field]: "hunter2" });
        } catch (e) {
          error = e;
        }
        expect(isPlatformError(error) && error.code, field).toBe("INVALID_INPUT");
        expect(String((error as Error).message)).not.toContain("hunter2");
      }
    });

    it("writes the source's files into its scratch folder only, and describes the source without a secret", async () => {
      const t = await target();
      const registry = new ConnectorRegistry([t.connector]);
      const ctx = await context(t);
      const result = await t.connector.snapshot(registry.parse(t.spec).spec, ctx);
      expect(result.files.map((f) => f.path).sort()).toEqual(t.files);
      // Nothing else is left there (no staging files), and each file is as large as reported.
      expect(listFiles(ctx.scratchDir)).toEqual(t.files);
      for (const f of result.files) expect(statSync(join(ctx.scratchDir, f.path)).size, f.path).toBe(f.bytes);
      expect(result.source.kind).toBe(t.connector.kind);
      const described = JSON.stringify(result.source);
      for (const value of t.secretValues) expect(described).not.toContain(value);
    });

    it("refuses sources outside what an admin allowed, before writing anything", async () => {
      const t = await target();
      const registry = new ConnectorRegistry([t.connector]);
      expect(t.outside.length).toBeGreaterThan(0);
      for (const { why, spec, code } of t.outside) {
        const ctx = await context(t);
        expect(await codeOf(Promise.resolve().then(() => t.connector.snapshot(registry.parse(spec).spec, ctx))), why).toBe(code);
        expect(listFiles(ctx.scratchDir), why).toEqual([]);
      }
    });

    it("refuses a source larger than its limits instead of cutting it short", async () => {
      const t = await target();
      const registry = new ConnectorRegistry([t.connector]);
      expect(await codeOf(t.connector.snapshot(registry.parse(t.spec).spec, await context(t, { ...LIMITS, maxBytes: 1 })))).toBe("PAYLOAD_TOO_LARGE");
    });

    it("reads secrets of its team only: a secret the team lacks is NOT_FOUND", async ({ skip }) => {
      const t = await target();
      // A connector that names no secrets is skipped with its written reason.
      if (typeof t.missingSecret === "string") return skip(t.missingSecret);
      const registry = new ConnectorRegistry([t.connector]);
      const ctx = await context(t);
      expect(await codeOf(t.connector.snapshot(registry.parse(t.missingSecret).spec, ctx))).toBe("NOT_FOUND");
      expect(listFiles(ctx.scratchDir)).toEqual([]);
    });

    it("stops when its snapshot is cancelled", async () => {
      const t = await target();
      const registry = new ConnectorRegistry([t.connector]);
      const controller = new AbortController();
      controller.abort();
      const ctx = await context(t, LIMITS, controller.signal);
      expect(await codeOf(t.connector.snapshot(registry.parse(t.spec).spec, ctx))).toBe("UNAVAILABLE");
      expect(existsSync(ctx.scratchDir)).toBe(true);
      expect(listFiles(ctx.scratchDir)).toEqual([]);
    });
  });
}
