import { join } from "node:path";
import { PassThrough } from "node:stream";
import { runCli } from "../../src/cli/program.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as the bytes written (downloads). */
  bytes: Buffer;
}

/**
 * Runs the real `paved` program in-process against a real server at `url` with `token`, from
 * `dir` (its HOME is `dir/home`, so no credentials file of the machine is read), stdin empty.
 */
export async function runPaved(args: string[], opts: { url: string; token: string; dir: string }): Promise<CliResult> {
  const chunks: Buffer[] = [];
  let stderr = "";
  const stdin = new PassThrough();
  stdin.end();
  const code = await runCli(["node", "paved", ...args], {
    env: { PAVED_URL: opts.url, PAVED_TOKEN: opts.token, HOME: join(opts.dir, "home") },
    cwd: opts.dir,
    io: { stdout: { write: (s: string | Uint8Array) => chunks.push(Buffer.from(s)) }, stderr: { write: (s: string) => (stderr += s) }, stdin },
  });
  const bytes = Buffer.concat(chunks);
  return { code, stdout: bytes.toString("utf8"), stderr, bytes };
}
