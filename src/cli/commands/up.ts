import type { Command } from "commander";
import { loadConfig } from "../../config/index.ts";

export function registerUp(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("up")
    .description("Start Paved: API, scheduler and controllers in one process")
    .option("--host <host>", "address to bind (default 127.0.0.1)")
    .option("--port <port>", "port to listen on (default 8080; 0 picks a free one)", (v) => Number(v))
    .option("--data-dir <dir>", "folder for the database, artifacts and logs (default ./.paved)")
    .option("--config <file>", "YAML configuration file")
    .option("--no-auth", "disable authentication (only allowed on a loopback address)")
    .addHelpText("after", "\nExample:\n  $ paved up --port 8080 --data-dir ./.paved")
    .action(async (opts: { host?: string; port?: number; dataDir?: string; config?: string; auth: boolean }) => {
      const config = loadConfig({
        env,
        file: opts.config,
        overrides: {
          host: opts.host,
          port: opts.port,
          dataDir: opts.dataDir,
          ...(opts.auth ? {} : { auth: { disabled: true } }),
        },
      });
      // Loaded on demand: the server's modules are not needed by the client commands.
      const { createApp } = await import("../../app.ts");
      const app = await createApp(config, { env });
      const url = await app.listen();
      process.stdout.write(`paved listening on ${url} (data in ${config.dataDir}, metadata in ${app.database.dialect})\n`);
      if (app.generatedAdminToken) {
        process.stdout.write(
          `\nAdmin token (shown once, stored hashed):\n  ${app.generatedAdminToken}\n` +
            `Use it with: export PAVED_URL=${url} PAVED_TOKEN=<token>   or   paved login --url ${url}\n\n`,
        );
      }
      const stop = async () => {
        await app.close();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop());
      process.once("SIGTERM", () => void stop());
    });
}
