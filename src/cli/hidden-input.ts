import { invalidInput } from "../core/index.ts";
import type { CliContext } from "./context.ts";

/**
 * A line typed at a prompt on a terminal, not echoed (a token, a secret's value): Enter or Ctrl-D
 * ends it, Backspace takes a character back, Ctrl-C refuses with `cancelled` (INVALID_INPUT).
 */
export function readHidden(ctx: CliContext, prompt: string, cancelled: string): Promise<string> {
  const stdin = ctx.io.stdin;
  ctx.io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let value = "";
    stdin.setRawMode?.(true);
    stdin.setEncoding("utf8");
    const done = (result: string | Error) => {
      stdin.setRawMode?.(false);
      stdin.removeListener("data", onData);
      stdin.pause();
      ctx.io.stderr.write("\n");
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onData = (chunk: string | Buffer) => {
      for (const ch of String(chunk)) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done(value);
        if (ch === "\u0003") return done(invalidInput(cancelled));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
    stdin.resume();
  });
}
