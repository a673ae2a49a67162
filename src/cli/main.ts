import { Command } from "commander";
import { runCli } from "./program.ts";

await runCli(new Command(), process.argv, process.env);
