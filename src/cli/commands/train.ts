import type { Command } from "commander";
import { resolve } from "node:path";
import type { ComputeRequest, JobSpec } from "../../client/index.ts";
import { invalidInput } from "../../core/index.ts";
import type { CliContext } from "../context.ts";
import { EXIT_JOB_FAILED } from "../exit-codes.ts";
import { followJob } from "../follow.ts";
import { collect, parseDurationFlag, parseInteger, parseMemory, parsePairs, parsePositiveNumber } from "../options.ts";

export interface TrainOptions {
  name: string;
  experiment?: string;
  team?: string;
  profile?: string;
  gpus?: number;
  gpuType?: string;
  cpus?: number;
  memory?: string;
  maxRuntime?: string | number;
  hpArgs?: boolean;
  retries?: number;
  hp?: string[];
  dataset?: string[];
  env?: string[];
  priority?: number | "low" | "normal" | "high";
  /** false with --no-preemptible. */
  preemptible?: boolean;
  checkpointDir?: string;
  follow?: boolean;
  json?: boolean;
}

export function registerTrain(program: Command, ctx: CliContext): void {
  program
    .command("train")
    .description("Run a training command as a job, in the current folder")
    .argument("<command...>", "the command to run, after `--`")
    .requiredOption("--name <name>", "job name (also the run name)")
    .option("--experiment <name>", "experiment the run is recorded in (default: the job name)")
    .option("--team <team>", "team the job, its run and a new experiment belong to (default: $PAVED_TEAM, else your token's team, else your only team)")
    .option("--profile <profile>", "compute profile (see `paved profiles ls`)")
    .option("--gpus <n>", "GPUs to allocate", parseInteger("--gpus", 0))
    .option("--gpu-type <type>", "GPU model to ask for, e.g. A100")
    .option("--cpus <n>", "CPUs to allocate", parsePositiveNumber("--cpus"))
    .option("--memory <quantity>", "memory to allocate, e.g. 4Gi", parseMemory)
    .option("--max-runtime <duration>", "stop the job after this long, e.g. 30m or 2h", parseDurationFlag("--max-runtime"))
    .option("--retries <n>", "run again up to n times when it fails", parseInteger("--retries", 0))
    .option("--hp <key=value...>", "hyperparameters: logged as run params and appended to the command as --key=value")
    .option("--no-hp-args", "do not append --key=value for each hyperparameter to the command")
    .option("--dataset <name=path...>", "datasets the job reads, logged as run inputs")
    .option("--env <KEY=VALUE>", "environment variable for the command (repeatable)", collect)
    .option("--priority <n>", "low, normal, high, or -1000..1000: higher runs first in its team; below high, the job is preemptible", parsePriority)
    .option("--no-preemptible", "never preempt this job (default: preemptible below priority high)")
    .option("--checkpoint-dir <dir>", "folder the job writes checkpoints to; kept across retries")
    .option("--follow", "stream the log and wait for the job to end; exit code 12 when it fails")
    .option("--json", "print the created job (with --follow: the finished job) as JSON")
    .addHelpText(
      "after",
      `
Examples:
  $ paved train --name mnist -- python3 train.py --epochs 5
  $ paved train --name mnist --profile gpu-1 --hp lr=0.01 batch=64 --dataset mnist=./data --follow -- python3 train.py
  $ paved train --name big --gpus 2 --cpus 8 --memory 32Gi --max-runtime 2h --retries 2 -- python3 train.py
  $ paved train --name mnist --team vision -- python3 train.py`,
    )
    .action(async (command: string[], opts: TrainOptions) => {
      const spec = buildTrainSpec(command, { ...opts, team: opts.team ?? defaultTeam(ctx) }, ctx.cwd);
      const client = await ctx.client();
      const job = await client.submitJob(spec);
      if (opts.json && !opts.follow) return ctx.json(job);
      if (!opts.follow) {
        ctx.out(`job ${job.id} queued; follow with \`paved logs -f ${job.id}\`\n`);
        return;
      }
      ctx.note(`job ${job.id} queued`);
      // With --json, stdout carries only the finished job; the log goes to stderr.
      const done = await followJob(ctx, client, job.id, { logTo: opts.json ? "stderr" : "stdout" });
      if (opts.json) ctx.json(done);
      if (done.phase !== "SUCCEEDED") ctx.exitCode = EXIT_JOB_FAILED;
    });
}

/** The team new jobs go to when neither --team nor the spec names one: PAVED_TEAM, if set. */
export function defaultTeam(ctx: Pick<CliContext, "env">): string | undefined {
  return ctx.env.PAVED_TEAM?.trim() || undefined;
}

/** Turns `paved train` flags into the job spec POSTed to /api/v1/jobs. */
export function buildTrainSpec(command: string[], opts: TrainOptions, cwd: string): JobSpec {
  if (command.length === 0) throw invalidInput("give the command to run after `--`, e.g. paved train --name n -- python3 train.py");
  const resources = opts.gpus !== undefined || opts.gpuType !== undefined || opts.cpus !== undefined || opts.memory !== undefined;
  if (opts.profile && resources) {
    throw invalidInput("give either --profile or --gpus/--gpu-type/--cpus/--memory, not both; see `paved profiles ls`");
  }
  let compute: ComputeRequest | undefined;
  if (opts.profile) compute = { profile: opts.profile };
  else if (resources) {
    compute = {
      ...(opts.gpus !== undefined ? { gpus: opts.gpus } : {}),
      ...(opts.gpuType !== undefined ? { gpuType: opts.gpuType } : {}),
      ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
      ...(opts.memory !== undefined ? { memory: opts.memory } : {}),
    };
  }
  const hyperparameters = parsePairs("--hp", opts.hp);
  const env = parsePairs("--env", opts.env);
  const datasets = Object.entries(parsePairs("--dataset", opts.dataset)).map(([name, path]) => ({ name, path: resolve(cwd, path) }));
  return {
    name: opts.name,
    command,
    workingDir: cwd,
    ...(opts.experiment ? { experiment: opts.experiment } : {}),
    ...(opts.team ? { team: opts.team } : {}),
    ...(Object.keys(env).length ? { env } : {}),
    ...(Object.keys(hyperparameters).length ? { hyperparameters } : {}),
    ...(opts.hpArgs === false ? { hyperparameterArgs: false } : {}),
    ...(datasets.length ? { datasets } : {}),
    ...(compute ? { compute } : {}),
    ...(opts.maxRuntime ? { maxRuntime: opts.maxRuntime } : {}),
    ...(opts.retries !== undefined ? { retry: { maxAttempts: opts.retries + 1 } } : {}),
    ...(opts.checkpointDir ? { checkpointDir: resolve(cwd, opts.checkpointDir) } : {}),
    ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
    ...(opts.preemptible === false ? { preemptible: false } : {}),
  };
}

/** A priority class (low, normal, high) or an integer; the server checks the range. */
function parsePriority(value: string): number | "low" | "normal" | "high" {
  if (value === "low" || value === "normal" || value === "high") return value;
  return parseInteger("--priority", -1_000_000)(value);
}
