"""Shared by the SDK tests: they run against a real Paved server named by PAVED_URL and PAVED_TOKEN."""
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_ROOT = os.path.dirname(HERE)
if SDK_ROOT not in sys.path:
    sys.path.insert(0, SDK_ROOT)

import paved  # noqa: E402

if not os.environ.get("PAVED_URL") or not os.environ.get("PAVED_TOKEN"):
    raise unittest.SkipTest("set PAVED_URL and PAVED_TOKEN to a running `paved up` (test/sdk-python.test.ts does)")


def unique(prefix: str) -> str:
    """A name no other test (or earlier run against the same server) used."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def onnx_model() -> Optional[bytes]:
    """A tiny ONNX model with one FP32 input [-1, 4]: the file PAVED_TEST_ONNX_MODEL names (the
    vitest suite writes one), else one torch exports; None when neither is at hand."""
    path = os.environ.get("PAVED_TEST_ONNX_MODEL")
    if path:
        with open(path, "rb") as f:
            return f.read()
    out = os.path.join(tempfile.mkdtemp(prefix="paved-sdk-onnx-"), "model.onnx")
    script = (
        "import sys, torch\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.Linear(4, 2)\n"
        "torch.onnx.export(m, (torch.zeros(1, 4),), sys.argv[1], input_names=['input'], output_names=['scores'], dynamic_axes={'input': {0: 'batch'}, 'scores': {0: 'batch'}})\n"
    )
    done = subprocess.run([sys.executable, "-c", script, out], capture_output=True)
    if done.returncode != 0:
        return None
    with open(out, "rb") as f:
        return f.read()


def eventually(check, what: str, timeout: float = 30.0, interval: float = 0.2):
    """Polls check() until it answers something truthy (a deadline for a hang, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(interval)
