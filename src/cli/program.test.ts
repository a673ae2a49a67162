import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./program.ts";
import { createContext } from "./context.ts";
import { runForTest } from "./run-for-test.ts";

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

describe("the paved program", () => {
  it("gives every command's help an example", () => {
    const program = buildProgram(createContext({ env: {} }));
    for (const command of allCommands(program)) {
      let help = "";
      command.configureOutput({ writeOut: (s) => (help += s) });
      command.outputHelp();
      expect(help, `help of '${command.name()}'`).toMatch(/\n\s+\$ paved /);
    }
  });

  it("exits 0 for --help and 2 for an unknown command or flag", async () => {
    expect((await runForTest(["--help"])).code).toBe(0);
    expect((await runForTest(["jobs", "ls", "--help"])).stdout).toContain("$ paved jobs ls");
    expect((await runForTest(["nope"])).code).toBe(2);
    expect((await runForTest(["jobs", "ls", "--bogus"])).code).toBe(2);
  });

  it("maps the server's error code to the exit code", async () => {
    const error = (code: string, status: number) => () =>
      new Response(JSON.stringify({ error: { code, message: `${code} happened` } }), { status });
    const notFound = await runForTest(["jobs", "describe", "job_x"], error("NOT_FOUND", 404));
    expect(notFound.code).toBe(3);
    expect(notFound.stderr).toBe("error: NOT_FOUND happened [NOT_FOUND]\n");
    expect((await runForTest(["experiments", "ls"], error("UNAUTHENTICATED", 401))).code).toBe(5);
    expect((await runForTest(["jobs", "ls"], error("FORBIDDEN", 403))).code).toBe(6);
  });

  it("lists with --json unchanged and as aligned tables otherwise", async () => {
    const profiles = { profiles: [{ name: "cpu", description: "CPU only", gpus: 0, gpuType: null, cpus: 2, memoryMiB: 4096, hourlyCost: 0.1 }] };
    const asJson = await runForTest(["profiles", "ls", "--json"], () => profiles);
    expect(JSON.parse(asJson.stdout)).toEqual(profiles);
    const table = await runForTest(["profiles", "ls"], () => profiles);
    expect(table.stdout).toBe("NAME  GPUS  GPU TYPE  CPUS  MEMORY  COST/H  DESCRIPTION\ncpu      0  -            2     4Gi     0.1  CPU only\n");
  });

  it("prints the documentation pages", async () => {
    const list = await runForTest(["docs"]);
    expect(list.stdout).toContain("  cli\n");
    const page = await runForTest(["docs", "cli"]);
    expect(page.stdout).toContain("# The `paved` command line");
    expect((await runForTest(["docs", "nope"])).code).toBe(3);
  });
});
