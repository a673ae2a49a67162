// `paved login --sso`, the real binary, against a Paved server signing in through a real OpenID
// provider: the CLI shows the provider's link and code, the test plays the user at the provider,
// and the CLI stores the personal token the server mints (the device authorization grant).
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormBrowser } from "./support/form-browser.ts";
import { startSsoServer, type SsoServer } from "./support/sso-server.ts";

const BIN = new URL("../bin/paved.js", import.meta.url).pathname;

describe("paved login --sso", () => {
  let server: SsoServer;
  let home: string;

  beforeAll(async () => {
    server = await startSsoServer();
    home = await mkdtemp(join(tmpdir(), "paved-sso-cli-"));
  });
  afterAll(async () => {
    await server?.close();
    await rm(home, { recursive: true, force: true });
  });

  function paved(args: string[], onStderr?: (text: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? "", HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => {
        stderr += d;
        onStderr?.(stderr);
      });
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout, stderr }));
    });
  }

  it("signs in through the provider and stores a token that acts as the user, with their mapped teams", async () => {
    let played: Promise<void> | undefined;
    const result = await paved(["login", "--sso", "--url", server.url], (stderr) => {
      const shown = stderr.match(/open (\S+) in a browser and check that it shows the code (\S+)/);
      if (!shown || played) return;
      // The user: opens the link, checks the code, signs in.
      played = (async () => {
        const browser = new FormBrowser();
        const confirm = await browser.submit(await browser.open(shown[1]!), "");
        expect(confirm.body).toContain(shown[2]!.replace(/[.,]$/, ""));
        const login = await browser.submit(confirm, "op.deviceConfirmForm");
        const done = await browser.submit(login, "login", { username: "ada", password: "ada-pw" });
        expect(done.body).toContain("id=done");
      })();
    });
    await played;
    expect(result.stderr).toContain("To sign in, open");
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^logged in to http:\/\/127\.0\.0\.1:\d+ as ada \(viewer in fraud, developer in risk\) until \S+; credentials stored in /);

    const stored = JSON.parse(await readFile(join(home, ".config", "paved", "credentials.json"), "utf8")) as { url: string; token: string };
    expect(stored.url).toBe(server.url);
    expect(stored.token).toMatch(/^pvd_/);
    const me = await paved(["whoami", "--json"]);
    expect(me.code, me.stderr).toBe(0);
    expect(JSON.parse(me.stdout)).toMatchObject({ name: "ada", teams: [{ team: "fraud", role: "viewer" }, { team: "risk", role: "developer" }] });
    const tokens = (await server.api("GET", "/api/v1/tokens?all=true")).body.tokens as { name: string; user: string }[];
    expect(tokens.filter((t) => t.user === "ada").map((t) => t.name)).toEqual([expect.stringMatching(/^sso-/)]);
  }, 60_000);

  it("says UNSUPPORTED with the fix when the server has no single sign-on", async () => {
    // The admin's server without auth.sso: the same binary, another server.
    const { createApp } = await import("../src/app.ts");
    const { loadConfig } = await import("../src/config/index.ts");
    const dataDir = await mkdtemp(join(tmpdir(), "paved-no-sso-"));
    const plain = await createApp(loadConfig({ env: {}, overrides: { dataDir, port: 0, logLevel: "silent", compute: { gpus: [], cpus: 1, memoryMiB: 512 } } }));
    const url = await plain.listen();
    try {
      const result = await paved(["login", "--sso", "--url", url]);
      expect(result.code).toBe(8);
      expect(result.stderr).toContain("[UNSUPPORTED]");
      expect(result.stdout).toBe("");
    } finally {
      await plain.close();
    }
  }, 60_000);
});
