import { runCli } from "./program.ts";

try {
  process.exitCode = await runCli(process.argv, { env: process.env });
} catch (error) {
  // Not a PlatformError: a bug or an environment problem; the stack only on request.
  const detail = process.env.PAVED_DEBUG ? (error as Error).stack : (error as Error).message;
  process.stderr.write(`error: ${detail} [INTERNAL] (set PAVED_DEBUG=1 for the stack)\n`);
  process.exitCode = 1;
}
