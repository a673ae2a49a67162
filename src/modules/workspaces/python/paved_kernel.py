"""Starts a workspace's IPython kernel the way Paved sets it up.

Jupyter runs this (through the kernel spec Paved writes) as
    <python> paved_kernel.py <fallback-dir> -f <connection-file>
It records which workspace and kernel a run comes from in MLFLOW_RUN_CONTEXT (the mlflow client adds
those tags to every run it starts, and the notebook's path once Paved knows it: see _Notebook), makes Paved's small
stand-in for `mlflow` importable when the real client is not installed (appended to sys.path, so an
installed mlflow always wins), keeps the Jupyter server's token file out of the kernel's
environment, and starts the kernel.

The variables of the workspace that can change while its server runs (its experiment, when a warm
pool's server is handed to someone) are read from PAVED_WORKSPACE_ENV_FILE when the kernel starts
and again before each cell once the file changes.
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


class _WatchedJson:
    """A small JSON file Paved rewrites (in one step) while the kernel runs: read again whenever its
    modification time changed; `changed` gets the new content, never a half-written or broken one."""

    def __init__(self, path):
        self.path = path
        self.seen = None

    def apply(self, *_args):
        if not self.path:
            return
        try:
            stamp = os.stat(self.path).st_mtime_ns
            if stamp == self.seen:
                return
            with open(self.path) as f:
                content = json.load(f)
            self.seen = stamp
        except (OSError, ValueError):
            return
        if isinstance(content, dict):
            self.changed(content)


class _WorkspaceEnv(_WatchedJson):
    """Applies the workspace's variable file (PAVED_WORKSPACE_ENV_FILE) to os.environ."""

    def changed(self, values):
        for key, value in values.items():
            if isinstance(key, str) and isinstance(value, str) and (key.startswith("MLFLOW_") or key.startswith("PAVED_")):
                os.environ[key] = value


class _Notebook(_WatchedJson):
    """Names the kernel's notebook in MLFLOW_RUN_CONTEXT once PAVED_NOTEBOOKS_FILE (kernel id to
    notebook path, which Paved writes when Jupyter gives a notebook's session a kernel) says it."""

    def __init__(self, path, kernel):
        super().__init__(path if kernel else "")
        self.kernel = kernel

    def changed(self, notebooks):
        notebook = notebooks.get(self.kernel)
        if not isinstance(notebook, str):
            return
        try:
            context = json.loads(os.environ.get("MLFLOW_RUN_CONTEXT") or "{}")
        except ValueError:
            context = {}
        context.update({"paved.workspace.notebook": notebook, "mlflow.source.name": notebook, "mlflow.source.type": "NOTEBOOK"})
        os.environ["MLFLOW_RUN_CONTEXT"] = json.dumps(context)


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
    # Paved's files for the kernel itself: read from here on, not the notebook's business.
    env = _WorkspaceEnv(os.environ.pop("PAVED_WORKSPACE_ENV_FILE", ""))
    env.apply()
    notebook = _Notebook(os.environ.pop("PAVED_NOTEBOOKS_FILE", ""), kernel)
    notebook.apply()
    os.environ.pop("PAVED_SPARE_KERNEL_FILE", None)
    sys.path.append(fallback)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize()
    app.shell.events.register("pre_run_cell", env.apply)
    app.shell.events.register("pre_run_cell", notebook.apply)
    app.start()


if __name__ == "__main__":
    main()
