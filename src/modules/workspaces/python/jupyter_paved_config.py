# Configuration of a workspace's Jupyter server, passed with --config= (see paved_jupyter.py).
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
c = get_config()  # noqa: F821 (defined by traitlets when it runs this file)
c.NotebookApp.kernel_manager_class = "paved_jupyter.PavedKernelManager"
c.NotebookApp.terminado_settings = {"shell_command": [sys.executable, os.path.join(HERE, "paved_terminal.py")]}
