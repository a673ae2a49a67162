"""Starts a shell for a terminal of a workspace's Jupyter server.

Jupyter Notebook 6 starts `$SHELL -l`, and a login shell reads /etc/profile, which on Debian sets
PATH again: the folder holding `paved` and the environment's bin/ were lost. This applies the
workspace's variable file (see paved_kernel.py) and starts the shell as an interactive, non-login
one, with the server's PATH.
"""

import json
import os


def main():
    path = os.environ.pop("PAVED_WORKSPACE_ENV_FILE", "")
    try:
        with open(path) as f:
            for key, value in json.load(f).items():
                if isinstance(value, str) and (key.startswith("MLFLOW_") or key.startswith("PAVED_")):
                    os.environ[key] = value
    except (OSError, ValueError):
        pass
    for name in ("JUPYTER_TOKEN_FILE", "JUPYTER_TOKEN", "PAVED_SPARE_KERNEL_FILE", "PAVED_NOTEBOOKS_FILE"):
        os.environ.pop(name, None)
    shell = os.environ.get("SHELL") or "/bin/bash"
    if not os.path.exists(shell):
        shell = "/bin/sh"
    os.execv(shell, [shell, "-i"])


if __name__ == "__main__":
    main()
