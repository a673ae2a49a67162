import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { PlatformError } from "../core/index.ts";
import { DEFAULT_URL } from "./paved-client.ts";

/** Where the URL and token come from, in order of precedence. */
export interface CredentialSources {
  /** Values given explicitly (flags); they win. */
  url?: string;
  token?: string;
  /** The environment, passed in by the caller (PAVED_URL, PAVED_TOKEN, XDG_CONFIG_HOME, HOME). */
  env: Record<string, string | undefined>;
}

export interface ResolvedCredentials {
  url: string;
  token: string | undefined;
  /** Where the token came from, for messages. */
  tokenSource: "option" | "env" | "file" | "none";
}

export interface StoredCredentials {
  url: string;
  token: string;
}

/** `$XDG_CONFIG_HOME/paved/credentials.json`, else `~/.config/paved/credentials.json`. */
export function credentialsPath(env: Record<string, string | undefined>): string {
  const configHome = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(configHome, "paved", "credentials.json");
}

/**
 * Resolves URL and token: explicit values, then PAVED_URL/PAVED_TOKEN, then the file `paved
 * login` wrote. The stored token is only sent to the URL it was stored for.
 */
export async function resolveCredentials(sources: CredentialSources): Promise<ResolvedCredentials> {
  const stored = await readCredentials(sources.env);
  const url = normaliseUrl(sources.url || sources.env.PAVED_URL || stored?.url || DEFAULT_URL);
  if (sources.token) return { url, token: sources.token, tokenSource: "option" };
  if (sources.env.PAVED_TOKEN) return { url, token: sources.env.PAVED_TOKEN, tokenSource: "env" };
  if (stored && normaliseUrl(stored.url) === url) return { url, token: stored.token, tokenSource: "file" };
  return { url, token: undefined, tokenSource: "none" };
}

/** Reads the credentials file; undefined when there is none. */
export async function readCredentials(env: Record<string, string | undefined>): Promise<StoredCredentials | undefined> {
  const path = credentialsPath(env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PlatformError("CONFIG", `cannot read ${path}: ${(error as Error).message}; fix its permissions or run \`paved login\` again`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new PlatformError("CONFIG", `${path} is not valid JSON; delete it and run \`paved login\` again`);
  }
  const v = value as Partial<StoredCredentials> | null;
  if (!v || typeof v.url !== "string" || typeof v.token !== "string") {
    throw new PlatformError("CONFIG", `${path} lacks 'url' and 'token'; delete it and run \`paved login\` again`);
  }
  return { url: v.url, token: v.token };
}

/** Writes the credentials file readable by its owner only (0600, folder 0700); returns its path. */
export async function saveCredentials(env: Record<string, string | undefined>, credentials: StoredCredentials): Promise<string> {
  const path = credentialsPath(env);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify({ url: normaliseUrl(credentials.url), token: credentials.token }, null, 2) + "\n", {
    mode: 0o600,
  });
  // The mode given to writeFile is filtered by the umask; make it exact before the file appears.
  await chmod(temporary, 0o600);
  await rename(temporary, path);
  return path;
}

export function normaliseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PlatformError("INVALID_INPUT", `'${url}' is not a URL; give one like ${DEFAULT_URL}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new PlatformError("INVALID_INPUT", `'${url}' must start with http:// or https://, e.g. ${DEFAULT_URL}`);
  }
  return url.replace(/\/+$/, "");
}
