import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A tiny Linear(4→2) exported by torch.onnx (Debian's python3-torch), with a dynamic batch dimension. */
export function exportLinearOnnx(): Buffer {
  const path = join(mkdtempSync(join(tmpdir(), "paved-onnx-")), "model.onnx");
  const script = [
    "import sys, torch",
    "torch.manual_seed(0)",
    "m = torch.nn.Linear(4, 2)",
    "torch.onnx.export(m, (torch.zeros(1, 4),), sys.argv[1], input_names=['features'], output_names=['scores'], dynamic_axes={'features': {0: 'batch'}, 'scores': {0: 'batch'}})",
  ].join("\n");
  execFileSync("/usr/bin/python3", ["-c", script, path], { stdio: "pipe" });
  return readFileSync(path);
}
