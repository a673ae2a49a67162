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

/**
 * A model whose output is far larger than its input: an ONNX Expand from a [batch, 1] FP32 input
 * `x` to a [batch, columns] output `y` (every column a copy of the row's value), as torch.onnx
 * exports `x.expand(-1, columns)`; one float in, `columns` floats (4 bytes each) out per row.
 */
export function exportExpandOnnx(columns: number): Buffer {
  const path = join(mkdtempSync(join(tmpdir(), "paved-onnx-")), "expand.onnx");
  const script = [
    "import sys, torch",
    "class Expand(torch.nn.Module):",
    "    def forward(self, x):",
    `        return x.expand(-1, ${Math.trunc(columns)})`,
    "torch.onnx.export(Expand(), (torch.zeros(1, 1),), sys.argv[1], input_names=['x'], output_names=['y'], dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}}, opset_version=13)",
  ].join("\n");
  execFileSync("/usr/bin/python3", ["-c", script, path], { stdio: "pipe" });
  return readFileSync(path);
}
