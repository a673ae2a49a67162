import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../../config/index.ts";
import { PlatformError, createLogger } from "../../core/index.ts";
import { parseInteger } from "../options.ts";

export function registerDataPlane(program: Command, env: NodeJS.ProcessEnv): void {
  const dataplane = program
    .command("dataplane")
    .description("The data plane: processes that serve models apart from `paved up` (docs/serving.md#the-data-plane)")
    .addHelpText("after", "\nExamples:\n  $ paved dataplane stop --data-dir ./.paved\n  $ paved dataplane run --dir /var/lib/paved-dp --port 8081 --config paved.yaml");
  dataplane
    .command("run")
    .description("Run one data-plane process: serves the OIP endpoints of what its control plane assigns it, and keeps serving its last state alone")
    .requiredOption("--dir <dir>", "the process's own folder: its saved state, model files and log (paved up uses <data-dir>/dataplane/<index>)")
    .option("--index <n>", "its number among the data plane's processes", parseInteger("--index", 0), 0)
    .option("--host <host>", "address to bind (default: the configuration's host)")
    .option("--port <port>", "port to listen on (0 picks a free one)", parseInteger("--port", 0), 0)
    .option("--config <file>", "YAML configuration file, as for paved up (the database to check tokens in, serving settings); paved up writes <dir>/config.json instead")
    .addHelpText(
      "after",
      `
The control plane reaches the process with the data plane's secret, from PAVED_DATAPLANE_SECRET.
\`paved up\` starts its processes itself (serving.dataPlane.processes); run this yourself to serve on
another machine with the same database.

Example (PAVED_DATAPLANE_SECRET exported first):
  $ paved dataplane run --dir /var/lib/paved-dp --port 8081 --config paved.yaml`,
    )
    .action(async (opts: { dir: string; index: number; host?: string; port: number; config?: string }) => {
      const dir = resolve(opts.dir);
      const written = join(dir, "config.json");
      const config = existsSync(written) && opts.config === undefined ? loadConfig({ env: {}, overrides: JSON.parse(readFileSync(written, "utf8")) }) : loadConfig({ env, file: opts.config });
      const secret = env.PAVED_DATAPLANE_SECRET;
      if (!secret || secret.length < 16) throw new PlatformError("CONFIG", "PAVED_DATAPLANE_SECRET is unset or shorter than 16 characters; set it to the secret the control plane holds (paved up keeps it in <data-dir>/dataplane/secret)");
      const logger = createLogger(config.logLevel).child({ dataPlane: opts.index });
      const { startDataPlane } = await import("../../dataplane/index.ts");
      const plane = await startDataPlane({ config, dir, index: opts.index, secret, logger, ...(opts.host ? { host: opts.host } : {}), port: opts.port });
      process.stdout.write(`paved data plane ${opts.index} serving on ${plane.url}\n`);
      const stop = () =>
        void plane.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
  dataplane
    .command("stop")
    .description("Stop the data-plane processes a data dir's paved up started (they outlive paved up's SIGTERM; its Ctrl-C stops them too)")
    .option("--data-dir <dir>", "the data dir of that paved up (default ./.paved)")
    .addHelpText("after", "\nExample:\n  $ paved dataplane stop --data-dir /var/lib/paved")
    .action(async (opts: { dataDir?: string }) => {
      const config = loadConfig({ env, overrides: { dataDir: opts.dataDir } });
      const { stopDataPlanes } = await import("../../dataplane/index.ts");
      const pids = await stopDataPlanes(config.dataDir);
      process.stdout.write(pids.length ? `stopped data-plane process(es) ${pids.join(", ")}; their state stays in ${config.dataDir}/dataplane\n` : `no data-plane process of ${config.dataDir} runs\n`);
    });
}
