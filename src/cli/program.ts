import type { Command } from "commander";
import { isPlatformError } from "../core/index.ts";
import { exitCodeFor } from "./exit-codes.ts";
import { registerUp } from "./commands/up.ts";

/** Builds the `paved` program; each command module adds its subcommands. */
export async function runCli(program: Command, argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  program
    .name("paved")
    .description("Paved: the golden path from experiment to production")
    .showHelpAfterError()
    .addHelpText(
      "after",
      `
Examples:
  $ paved up                                   # start the server with embedded defaults
  $ paved train --name demo -- python3 train.py --epochs 5
  $ paved jobs ls
  $ paved runs show <run-id>`,
    );
  registerUp(program, env);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (isPlatformError(error)) {
      process.stderr.write(`error: ${error.message} [${error.code}]\n`);
      process.exitCode = exitCodeFor(error.code);
      return;
    }
    throw error;
  }
}
