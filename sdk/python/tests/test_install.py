import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from support import SDK_ROOT


class InstallTest(unittest.TestCase):
    def test_pip_install_into_a_venv_offline(self):
        work = tempfile.mkdtemp(prefix="paved-sdk-venv-")
        # A copy, so the build leaves nothing in the source tree.
        source = os.path.join(work, "src")
        shutil.copytree(SDK_ROOT, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
        venv = os.path.join(work, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
        python = os.path.join(venv, "bin", "python")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        installed = subprocess.run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation", source], env=env, capture_output=True, text=True)
        self.assertEqual(installed.returncode, 0, installed.stdout + installed.stderr)
        shutil.rmtree(source)
        check = "import os, paved; print(paved.__version__, paved.__file__, os.path.exists(os.path.join(os.path.dirname(paved.__file__), 'py.typed')), paved.whoami()['name'])"
        ran = subprocess.run([python, "-c", check], env=env, cwd=work, capture_output=True, text=True)
        self.assertEqual(ran.returncode, 0, ran.stderr)
        version, where, typed, me = ran.stdout.split()
        self.assertEqual(version, "0.1.0")
        self.assertTrue(where.startswith(venv), where)
        self.assertEqual(typed, "True")
        self.assertTrue(me)


if __name__ == "__main__":
    unittest.main()
