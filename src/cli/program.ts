import { Command, CommanderError } from "commander";
import { isPlatformError } from "../core/index.ts";
import { registerApply } from "./commands/apply.ts";
import { registerAdoption, registerFeedback } from "./commands/adoption.ts";
import { registerAudit } from "./commands/audit.ts";
import { registerBudgets } from "./commands/budgets.ts";
import { registerCosts } from "./commands/costs.ts";
import { registerCompute } from "./commands/compute.ts";
import { registerDataPlane } from "./commands/dataplane.ts";
import { registerDeploy } from "./commands/deploy.ts";
import { registerDocs } from "./commands/docs.ts";
import { registerEvaluate } from "./commands/evaluate.ts";
import { registerExperiments } from "./commands/experiments.ts";
import { registerJobs, registerLogs } from "./commands/jobs.ts";
import { registerTeams, registerTokens, registerUsers } from "./commands/identity.ts";
import { registerLogin } from "./commands/login.ts";
import { registerLineage } from "./commands/lineage.ts";
import { registerTemplates } from "./commands/templates.ts";
import { registerTriggers } from "./commands/triggers.ts";
import { registerModels } from "./commands/models.ts";
import { registerAlerts, registerMonitors } from "./commands/monitors.ts";
import { registerFeatures } from "./commands/features.ts";
import { registerDatasets } from "./commands/datasets.ts";
import { registerPredict } from "./commands/predict.ts";
import { registerPolicy } from "./commands/policy.ts";
import { registerQuotas } from "./commands/quotas.ts";
import { registerGc, registerStorage } from "./commands/gc.ts";
import { registerRuns } from "./commands/runs.ts";
import { registerSecrets } from "./commands/secrets.ts";
import { registerSweeps } from "./commands/sweeps.ts";
import { registerPipelines } from "./commands/pipelines.ts";
import { registerTrain } from "./commands/train.ts";
import { registerUp } from "./commands/up.ts";
import { registerWorkspace } from "./commands/workspace.ts";
import { createContext, type CliContext, type ContextOptions } from "./context.ts";
import { EXIT_USAGE, exitCodeFor } from "./exit-codes.ts";

/** Builds the `paved` program; each command module adds its subcommands. */
export function buildProgram(ctx: CliContext, program: Command = new Command()): Command {
  program
    .name("paved")
    .description("Paved: the golden path from experiment to production")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => void ctx.io.stdout.write(s), writeErr: (s) => void ctx.io.stderr.write(s) })
    .addHelpText(
      "after",
      `
Examples:
  $ paved up                                   # start the server with embedded defaults
  $ paved login --url http://127.0.0.1:8080    # store the token it printed
  $ paved train --name demo -- python3 train.py --epochs 5
  $ paved jobs ls
  $ paved sweeps create -f sweep.yaml          # grid, random or ASHA over a job's parameters
  $ paved pipelines run train-and-deploy --wait  # a DAG of jobs and golden-path steps
  $ paved runs show <run-id>
  $ paved runs metrics <run-id> loss           # a metric's history
  $ paved runs artifacts get <run-id> outputs/model.onnx -o model.onnx
  $ paved models tag churn model_card.owner=ml-team
  $ paved workspace create --profile gpu-1      # a Jupyter server, reached through Paved

The server and token come from PAVED_URL and PAVED_TOKEN, else from \`paved login\`.
Every listing takes --json. Exit codes: 2 invalid input, 3 not found, 4 conflict,
5 unauthenticated, 6 forbidden, 7 quota, 8 unsupported, 9 gate failed, 10 config,
11 server unreachable, 12 followed job failed, 1 internal error.`,
    );
  // Commands inherit exitOverride and configureOutput from the program when they are created.
  registerUp(program, ctx.env as NodeJS.ProcessEnv);
  registerDataPlane(program, ctx.env as NodeJS.ProcessEnv);
  registerLogin(program, ctx);
  registerApply(program, ctx);
  registerTrain(program, ctx);
  registerJobs(program, ctx);
  registerSweeps(program, ctx);
  registerPredict(program, ctx);
  registerPipelines(program, ctx);
  registerLogs(program, ctx);
  registerRuns(program, ctx);
  registerExperiments(program, ctx);
  registerModels(program, ctx);
  registerEvaluate(program, ctx);
  registerDeploy(program, ctx);
  registerDatasets(program, ctx);
  registerFeatures(program, ctx);
  registerMonitors(program, ctx);
  registerAlerts(program, ctx);
  registerCompute(program, ctx);
  registerTokens(program, ctx);
  registerTeams(program, ctx);
  registerUsers(program, ctx);
  registerAudit(program, ctx);
  registerLineage(program, ctx);
  registerTriggers(program, ctx);
  registerTemplates(program, ctx);
  registerAdoption(program, ctx);
  registerFeedback(program, ctx);
  registerCosts(program, ctx);
  registerQuotas(program, ctx);
  registerStorage(program, ctx);
  registerGc(program, ctx);
  registerBudgets(program, ctx);
  registerPolicy(program, ctx);
  registerSecrets(program, ctx);
  registerWorkspace(program, ctx);
  registerDocs(program, ctx);
  return program;
}

/** Runs `paved` on argv (node-style, with the two leading entries); resolves to the exit code. */
export async function runCli(argv: string[], options: ContextOptions & { program?: Command }): Promise<number> {
  const ctx = createContext(options);
  const program = buildProgram(ctx, options.program);
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed the problem (or the help, or the version).
      return error.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    if (isPlatformError(error)) {
      ctx.io.stderr.write(`error: ${error.message} [${error.code}]\n`);
      return exitCodeFor(error.code);
    }
    throw error;
  }
}
