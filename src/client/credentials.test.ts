import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { credentialsPath, readCredentials, resolveCredentials, saveCredentials } from "./credentials.ts";

describe("credentials", () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), "paved-cred-"));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("lives under ~/.config unless XDG_CONFIG_HOME says otherwise", () => {
    expect(credentialsPath({ HOME: home })).toBe(join(home, ".config", "paved", "credentials.json"));
    expect(credentialsPath({ HOME: home, XDG_CONFIG_HOME: join(home, "xdg") })).toBe(join(home, "xdg", "paved", "credentials.json"));
  });

  it("defaults to the local server and no token", async () => {
    expect(await resolveCredentials({ env: { HOME: home } })).toEqual({ url: "http://127.0.0.1:8080", token: undefined, tokenSource: "none" });
  });

  it("writes the file readable by its owner only and reads it back", async () => {
    const env = { HOME: home, XDG_CONFIG_HOME: join(home, "xdg") };
    const path = await saveCredentials(env, { url: "http://paved.test:9000/", token: "pvd_secret" });
    expect(path).toBe(join(home, "xdg", "paved", "credentials.json"));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, "xdg", "paved"))).mode & 0o777).toBe(0o700);
    expect(await readCredentials(env)).toEqual({ url: "http://paved.test:9000", token: "pvd_secret" });
    expect(await resolveCredentials({ env })).toEqual({ url: "http://paved.test:9000", token: "pvd_secret", tokenSource: "file" });
  });

  it("tightens the mode of a file that existed with a looser one", async () => {
    const env = { HOME: home };
    const path = credentialsPath(env);
    await mkdir(join(home, ".config", "paved"), { recursive: true });
    await writeFile(path, "{}", { mode: 0o644 });
    await saveCredentials(env, { url: "http://a:1", token: "t" });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, "utf8"))).toEqual({ url: "http://a:1", token: "t" });
  });

  it("prefers explicit values, then the environment, then the file", async () => {
    const env = { HOME: home, PAVED_URL: "http://env:1", PAVED_TOKEN: "env-token" };
    await saveCredentials(env, { url: "http://file:1", token: "file-token" });
    expect(await resolveCredentials({ env, url: "http://flag:1", token: "flag-token" })).toMatchObject({ url: "http://flag:1", token: "flag-token", tokenSource: "option" });
    expect(await resolveCredentials({ env })).toMatchObject({ url: "http://env:1", token: "env-token", tokenSource: "env" });
    expect(await resolveCredentials({ env: { HOME: home } })).toMatchObject({ url: "http://file:1", token: "file-token", tokenSource: "file" });
  });

  it("never sends the stored token to a different server", async () => {
    await saveCredentials({ HOME: home }, { url: "http://file:1", token: "file-token" });
    expect(await resolveCredentials({ env: { HOME: home, PAVED_URL: "http://elsewhere:2" } })).toMatchObject({
      url: "http://elsewhere:2",
      token: undefined,
    });
  });

  it("reports a damaged file as a CONFIG error", async () => {
    const env = { HOME: home };
    await mkdir(join(home, ".config", "paved"), { recursive: true });
    await writeFile(credentialsPath(env), "not json");
    await expect(resolveCredentials({ env })).rejects.toMatchObject({ code: "CONFIG" });
  });

  it("rejects a URL that is not http(s)", async () => {
    await expect(resolveCredentials({ env: { HOME: home, PAVED_URL: "ftp://x" } })).rejects.toMatchObject({ code: "INVALID_INPUT" });
  });
});
