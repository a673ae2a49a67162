// Test and bench fixture: builds the ONNX models of test-models.py once per machine (cached in
// the temp folder under the script's hash) and reads torch's expected outputs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type TestModelName = "tiny" | "tiny-v2" | "fixed" | "mlp" | "slow";

export interface TestModels {
  dir: string;
  bytes(name: TestModelName): Uint8Array;
  /** torch's inputs and outputs for each model, keyed by tensor name (nested arrays). */
  expected: Record<TestModelName, Record<string, number[][] | number[]>>;
}

const PYTHON = "/usr/bin/python3";

export function buildTestModels(): TestModels {
  const script = new URL("./test-models.py", import.meta.url).pathname;
  const hash = createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 12);
  const dir = join(tmpdir(), `paved-serving-models-${hash}`);
  if (!existsSync(join(dir, "expected.json"))) {
    const scratch = mkdtempSync(join(tmpdir(), "paved-serving-models-build-"));
    execFileSync(PYTHON, [script, scratch], { stdio: ["ignore", "ignore", "pipe"] });
    try {
      renameSync(scratch, dir);
    } catch {
      // Another test file built them at the same time; theirs are as good.
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return {
    dir,
    bytes: (name) => new Uint8Array(readFileSync(join(dir, `${name}.onnx`))),
    expected: JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")),
  };
}
