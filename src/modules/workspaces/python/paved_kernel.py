"""Starts a workspace's IPython kernel the way Paved sets it up.

Jupyter runs this (through the kernel spec Paved writes) as
    <python> paved_kernel.py <fallback-dir> -f <connection-file>
It records which workspace and kernel a run comes from in MLFLOW_RUN_CONTEXT (the mlflow client adds
those tags to every run it starts; Paved then adds the notebook's path), makes Paved's small
stand-in for `mlflow` importable when the real client is not installed (appended to sys.path, so an
installed mlflow always wins), keeps the Jupyter server's token file out of the kernel's
environment, and starts the kernel.
"""

import json
import os
import re
import sys


def _kernel_id(argv):
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            match = re.search(r"kernel-([0-9a-fA-F-]+)\.json$", argv[i + 1])
            if match:
                return match.group(1)
    return ""


def main():
    fallback = sys.argv.pop(1)
    context = {}
    try:
        context = json.loads(os.environ.get("MLFLOW_RUN_CONTEXT") or "{}")
    except ValueError:
        pass
    workspace = os.environ.get("PAVED_WORKSPACE_ID", "")
    if workspace:
        context["paved.workspace_id"] = workspace
    environment = os.environ.get("PAVED_ENVIRONMENT", "")
    if environment:
        context["paved.environment"] = environment
    from_run = os.environ.get("PAVED_FROM_RUN", "")
    if from_run:
        context["paved.workspace.from_run"] = from_run
    kernel = _kernel_id(sys.argv)
    if kernel:
        context["paved.workspace.kernel_id"] = kernel
    os.environ["MLFLOW_RUN_CONTEXT"] = json.dumps(context)
    os.environ.pop("JUPYTER_TOKEN_FILE", None)
    os.environ.pop("JUPYTER_TOKEN", None)
    sys.path.append(fallback)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
