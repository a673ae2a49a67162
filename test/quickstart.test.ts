// The quickstart's training script on its own (no server): it trains, checkpoints every epoch,
// exports model.onnx, and a run interrupted with the retry exit code resumes from its checkpoint.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const PYTHON = "/usr/bin/python3";
const EXAMPLE = new URL("../examples/quickstart/", import.meta.url).pathname;
const hasTorch = spawnSync(PYTHON, ["-c", "import torch, sklearn"], { stdio: "ignore" }).status === 0;
const dirs: string[] = [];

function train(args: string[]): { status: number | null; stdout: string; stderr: string; out: string; checkpoints: string } {
  const dir = mkdtempSync(join(tmpdir(), "paved-quickstart-"));
  dirs.push(dir);
  return { ...trainIn(dir, args), out: join(dir, "out"), checkpoints: join(dir, "checkpoints") };
}

function trainIn(dir: string, args: string[]) {
  // No MLFLOW_RUN_ID: paved_log prints `paved.metric` lines instead of posting to a server.
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", PAVED_OUTPUT_DIR: join(dir, "out"), PAVED_CHECKPOINT_DIR: join(dir, "checkpoints") };
  const r = spawnSync(PYTHON, ["train.py", ...args], { cwd: EXAMPLE, env, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// scripts/install-deps.sh installs python3-torch and python3-sklearn before the suite runs.
describe.skipIf(!hasTorch)(`examples/quickstart/train.py (${hasTorch ? PYTHON : `skipped: ${PYTHON} lacks torch or sklearn; run scripts/install-deps.sh`})`, () => {
  it("trains, logs metric lines, checkpoints and exports model.onnx", () => {
    const r = train(["--epochs", "3"]);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(r.out, "model.onnx"))).toBe(true);
    expect(existsSync(join(r.checkpoints, "checkpoint.pt"))).toBe(true);
    const summary = JSON.parse(readFileSync(join(r.out, "metrics.json"), "utf8"));
    expect(summary.final.val_accuracy).toBeGreaterThan(0.8);
    const metricLines = r.stdout.split("\n").filter((l) => l.startsWith("paved.metric "));
    expect(metricLines).toHaveLength(3);
    expect(metricLines[2]).toMatch(/train_loss=\S+ val_loss=\S+ val_accuracy=\S+ val_auc=\S+ step=3/);
    // The evaluation data for `paved evaluate`: 30 raw features in the model's order, then label.
    const evalCsv = readFileSync(join(r.out, "eval.csv"), "utf8").trim().split("\n");
    expect(evalCsv[0]!.split(",")).toHaveLength(31);
    expect(evalCsv[0]!.split(",").at(-1)).toBe("label");
    expect(evalCsv).toHaveLength(1 + 114);
    expect(readFileSync(join(r.out, "reference.csv"), "utf8").trim().split("\n")).toHaveLength(1 + 455);
  });

  it("--degrade trains a model below the gate's accuracy; --input-name renames the ONNX input", () => {
    const degraded = train(["--epochs", "3", "--degrade"]);
    expect(degraded.status, degraded.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(degraded.out, "metrics.json"), "utf8")).final.val_accuracy).toBeLessThan(0.5);
    const renamed = train(["--epochs", "1", "--input-name", "features"]);
    expect(renamed.status, renamed.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(renamed.out, "metrics.json"), "utf8")).model.input).toBe("features");
  });

  it("exits 75 at --fail-at-epoch, then resumes from the checkpoint and finishes like an uninterrupted run", () => {
    const first = train(["--epochs", "4", "--fail-at-epoch", "2"]);
    expect(first.status).toBe(75);
    expect(existsSync(join(first.checkpoints, "checkpoint.pt"))).toBe(true);
    expect(existsSync(join(first.out, "model.onnx"))).toBe(false);

    const dir = join(first.out, "..");
    const second = trainIn(dir, ["--epochs", "4", "--fail-at-epoch", "2"]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toContain("resuming from");
    const epochs = second.stdout.split("\n").filter((l) => l.startsWith("paved.metric ")).map((l) => l.match(/step=(\d+)/)?.[1]);
    expect(epochs).toEqual(["3", "4"]);
    const resumed = JSON.parse(readFileSync(join(first.out, "metrics.json"), "utf8"));
    expect(resumed.resumed_from_epoch).toBe(2);
    expect(existsSync(join(first.out, "model.onnx"))).toBe(true);

    // Shuffling depends only on (seed, epoch) and the optimizer state is restored, so resuming
    // changes nothing about the result.
    const straight = train(["--epochs", "4"]);
    const uninterrupted = JSON.parse(readFileSync(join(straight.out, "metrics.json"), "utf8"));
    expect(resumed.final.val_loss).toBeCloseTo(uninterrupted.final.val_loss, 5);
  });
});
