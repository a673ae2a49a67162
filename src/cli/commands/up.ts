import type { Command } from "commander";
import type { App } from "../../app.ts";
import { loadConfig, type Config } from "../../config/index.ts";
import { PlatformError } from "../../core/index.ts";
import { lockDataDir, type DataDirLock } from "../../storage/index.ts";
import { exitCodeFor } from "../exit-codes.ts";
import { parseInteger } from "../options.ts";
import { findPortHolder } from "../port-holder.ts";

export function registerUp(program: Command, env: NodeJS.ProcessEnv): void {
  program
    .command("up")
    .description("Start Paved: API, scheduler and controllers in one process (one per data dir on SQLite; on PostgreSQL any number of replicas, one of which leads)")
    .option("--host <host>", "address to bind (default 127.0.0.1)")
    .option("--port <port>", "port to listen on (default 8080; 0 picks a free one)", parseInteger("--port", 0))
    .option("--data-dir <dir>", "folder for the database, artifacts and logs (default ./.paved)")
    .option("--config <file>", "YAML configuration file")
    .option("--no-auth", "disable authentication (only allowed on a loopback address)")
    .addHelpText(
      "after",
      `
Example:
  $ paved up --port 8080 --data-dir ./.paved
On SQLite, a second paved up on the same data dir is refused and names the one that runs (exit
code 4), as is a port another process listens on. On PostgreSQL (PAVED_DATABASE_URL) every
paved up is a replica: one leads and runs the controllers, the others forward requests to it and
take over within a second or two when it stops (docs/deploying-paved.md#replicas):
  $ PAVED_DATABASE_URL=postgres://paved@db/paved paved up --port 8080 --data-dir /shared/paved`,
    )
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
      // SQLite: one control plane per data dir, taken before the database is opened or migrated.
      // PostgreSQL: replicas may share a data dir (local jobs' folders, artifacts); the leader
      // election on the database decides which one runs the controllers.
      const lock: DataDirLock | undefined = config.databaseUrl ? undefined : lockDataDir(config.dataDir);
      process.once("exit", () => lock?.release());
      let app: App | undefined;
      // SIGTERM (a service manager's stop or restart) leaves the data-plane processes serving, and the
      // next paved up adopts them; Ctrl-C (SIGINT) at a terminal stops them too.
      const stop = async (code: number, keepDataPlanes = true) => {
        await app?.close({ keepDataPlanes }).catch(() => undefined);
        lock?.release();
        process.exit(code);
      };
      // Registered before anything starts: a stop that comes early still releases the locks.
      process.once("SIGINT", () => void stop(0, false));
      process.once("SIGTERM", () => void stop(0));
      try {
        // Loaded on demand: the server's modules are not needed by the client commands.
        const { createApp } = await import("../../app.ts");
        app = await createApp(config, {
          env,
          // A replica that stops leading exits (its writes are already fenced off); its service manager starts it again as a follower.
          onLeadershipLost: (error) => {
            // Exit code 11 (UNAVAILABLE) whatever the cause: a service manager restarts it (4 would mean "do not restart").
            process.stderr.write(`error: ${error.message}; this replica stops so that no two run the controllers [${error.code}]\n`);
            void stop(exitCodeFor("UNAVAILABLE"));
          },
        });
        const url = await listen(app, config);
        lock?.setUrl(url);
        const s3 = config.artifacts.store === "s3" ? config.artifacts.s3 : undefined;
        const artifactsAt = s3 ? `, artifacts in s3://${s3.bucket}/${s3.prefix}${s3.endpoint ? ` at ${s3.endpoint}` : ""}` : "";
        process.stdout.write(`paved listening on ${url} (data in ${config.dataDir}, metadata in ${app.database.dialect}${artifactsAt})\n`);
        const role = app.role();
        if (config.databaseUrl) process.stdout.write(role.leads ? `this replica leads the control plane (epoch ${role.epoch})\n` : "another replica leads the control plane: this one forwards requests to it and takes over if it stops\n");
        if (app.dataPlane && role.leads) {
          await app.dataPlane.ensure();
          process.stdout.write(`models served by ${app.dataPlane.urls().length} data-plane process(es): ${app.dataPlane.urls().join(" ")} (also relayed at ${url}/v2)\n`);
        }
        if (app.generatedAdminToken) {
          process.stdout.write(
            `\nAdmin token (shown once, stored hashed):\n  ${app.generatedAdminToken}\n` +
              `Use it with: export PAVED_URL=${url} PAVED_TOKEN=<token>   or   \`paved login --url ${url}\`\n\n`,
          );
        }
      } catch (error) {
        await app?.close().catch(() => undefined);
        lock?.release();
        throw error;
      }
    });
}

/** Listens; a port that is taken or not ours to bind is a PlatformError that says what to do. */
async function listen(app: App, config: Config): Promise<string> {
  try {
    return await app.listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `port ${config.port} on ${config.host}`;
    if (code === "EADDRINUSE") {
      const holder = findPortHolder(config.port);
      const by = holder ? ` (by pid ${holder.pid}: ${holder.command})` : "";
      throw new PlatformError("CONFLICT", `${where} is in use${by}; pass --port or stop the other server`, { host: config.host, port: config.port, holder: holder ?? null });
    }
    if (code === "EACCES") {
      throw new PlatformError("CONFIG", `${where} needs privileges this user lacks; pass --port with a port above 1023`, { host: config.host, port: config.port });
    }
    if (code === "EADDRNOTAVAIL") {
      throw new PlatformError("CONFIG", `${config.host} is not an address of this machine; pass --host 127.0.0.1 (or an address this machine has)`, { host: config.host });
    }
    throw error;
  }
}
