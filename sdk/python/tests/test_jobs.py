import os
import sys
import tempfile
import unittest

from support import eventually, paved, unique

PYTHON = sys.executable


class JobsTest(unittest.TestCase):
    def test_submit_wait_and_stream_logs(self):
        experiment = unique("sdk-jobs")
        marker = unique("hello-from-the-job")
        job = paved.jobs.submit(
            {
                "name": "sdk-hello",
                "experiment": experiment,
                "command": [PYTHON, "-c", f"print('{marker}'); print('paved.metric loss=0.25 step=1')"],
                "compute": {"cpus": 0.25},
            }
        )
        self.assertTrue(job.id)
        self.assertIn(job.phase, ("QUEUED", "STARTING", "RUNNING", "SUCCEEDED"))

        streamed = "".join(paved.jobs.stream_logs(job.id))
        self.assertIn(marker, streamed)

        seen = []
        done = paved.jobs.wait(job.id, progress=lambda j: seen.append(j.phase), timeout=120)
        self.assertEqual(done.phase, "SUCCEEDED")
        self.assertEqual(seen[-1], "SUCCEEDED")
        self.assertIn(marker, paved.jobs.logs(job.id))
        self.assertIn(job.id, [j.id for j in paved.jobs.list()])

        run = paved.runs.get(done.run_id)
        self.assertEqual(run.metrics["loss"]["value"], 0.25)
        self.assertEqual([p["value"] for p in paved.runs.metric_history(done.run_id, "loss")], [0.25])

    def test_submit_from_a_yaml_file_resolves_paths_against_its_folder(self):
        try:
            import yaml  # noqa: F401
        except ImportError:
            self.skipTest("PyYAML is not installed (Debian: python3-yaml); dict specs are tested above")
        folder = tempfile.mkdtemp(prefix="paved-sdk-yaml-")
        with open(os.path.join(folder, "greet.py"), "w") as f:
            f.write("import os\nprint('cwd=' + os.getcwd())\n")
        spec = os.path.join(folder, "job.yaml")
        with open(spec, "w") as f:
            f.write(f"kind: Job\nname: sdk-yaml\ncommand: [{PYTHON}, greet.py]\ncompute: {{ cpus: 0.25 }}\n")
        job = paved.jobs.submit(spec)
        self.assertEqual(job.spec["workingDir"], folder)
        done = paved.jobs.wait(job.id, timeout=120, raise_on_failure=True)
        self.assertEqual(done.phase, "SUCCEEDED")
        self.assertIn(f"cwd={os.path.realpath(folder)}", paved.jobs.logs(job.id))

        # YAML text works too.
        text = paved.jobs.submit(f"name: sdk-yaml-text\ncommand: [{PYTHON}, -c, 'print(1)']\ncompute: {{ cpus: 0.25 }}\n")
        self.assertEqual(paved.jobs.wait(text.id, timeout=120).phase, "SUCCEEDED")

    def test_yaml_without_pyyaml_says_to_pass_a_dict_or_install_it(self):
        saved = sys.modules.get("yaml")
        sys.modules["yaml"] = None  # import yaml now raises ImportError
        try:
            with self.assertRaises(paved.InvalidInput) as caught:
                paved.jobs.submit("name: x\ncommand: [python3, -c, 'print(1)']\n")
        finally:
            if saved is None:
                del sys.modules["yaml"]
            else:
                sys.modules["yaml"] = saved
        self.assertIn("pass the spec as a dict", caught.exception.message)
        self.assertIn("pyyaml", caught.exception.message)

    def test_cancel_a_running_job(self):
        job = paved.jobs.submit({"name": "sdk-sleeper", "command": [PYTHON, "-c", "import time; print('started', flush=True); time.sleep(600)"], "compute": {"cpus": 0.25}})
        eventually(lambda: paved.jobs.get(job.id).phase == "RUNNING", "the job to start", timeout=60)
        paved.jobs.cancel(job.id)
        done = paved.jobs.wait(job.id, timeout=60)
        self.assertEqual(done.phase, "CANCELLED")
        with self.assertRaises(paved.Conflict):
            paved.jobs.wait(job.id, raise_on_failure=True)

    def test_a_failed_job_raises_when_asked(self):
        job = paved.jobs.submit({"name": "sdk-fails", "command": [PYTHON, "-c", "import sys; sys.exit(3)"], "compute": {"cpus": 0.25}})
        with self.assertRaises(paved.Conflict) as caught:
            paved.jobs.wait(job.id, timeout=120, raise_on_failure=True)
        self.assertEqual(caught.exception.details["phase"], "FAILED")

    def test_get_of_an_unknown_job_is_not_found(self):
        with self.assertRaises(paved.NotFound):
            paved.jobs.get("job-0000000000")


if __name__ == "__main__":
    unittest.main()
