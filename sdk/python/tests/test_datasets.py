import os
import tempfile
import unittest

from support import paved, unique


class DatasetsTest(unittest.TestCase):
    def test_create_from_a_folder_then_versions(self):
        folder = tempfile.mkdtemp(prefix="paved-sdk-dataset-")
        os.makedirs(os.path.join(folder, "eval"))
        with open(os.path.join(folder, "train.csv"), "w") as f:
            f.write("x,y\n1,2\n3,4\n5,6\n")
        with open(os.path.join(folder, "eval", "test.csv"), "w") as f:
            f.write("x,y\n7,8\n")
        with open(os.path.join(folder, ".hidden"), "w") as f:
            f.write("skipped")
        name = unique("sdk-data")
        uploaded = []
        first = paved.datasets.create(name, folder, description="both files", alias="prod", progress=uploaded.append)
        self.assertEqual(sorted(uploaded), ["eval/test.csv", "train.csv"])
        self.assertEqual((first.version, first.ref, first.fileCount), (1, f"datasets:/{name}@1", 2))
        again = paved.datasets.create(name, folder)
        self.assertTrue(again.existing)
        self.assertEqual(again.version, 1)
        second = paved.datasets.create(name, os.path.join(folder, "train.csv"))
        self.assertEqual(second.version, 2)

        self.assertEqual([v["version"] for v in paved.datasets.versions(name)], [2, 1])
        shown = paved.datasets.get(name)
        self.assertEqual((shown.latestVersion, shown.aliases["prod"]), (2, 1))
        self.assertEqual(sorted(f["path"] for f in paved.datasets.version(name, "prod")["files"]), ["eval/test.csv", "train.csv"])
        self.assertIn(name, [d["name"] for d in paved.datasets.list()])

    def test_a_missing_path_is_not_found_before_any_upload(self):
        with self.assertRaises(paved.NotFound):
            paved.datasets.create(unique("sdk-data"), "/nonexistent/paved-sdk")


class PipelinesTest(unittest.TestCase):
    def test_apply_run_and_wait(self):
        name = unique("sdk-pipe")
        pipeline = paved.pipelines.apply(
            {
                "kind": "Pipeline",
                "metadata": {"name": name},
                "spec": {"parameters": {"who": "world"}, "steps": [{"name": "greet", "echo": {"message": "hi ${{ params.who }}"}}]},
            }
        )
        self.assertEqual((pipeline.name, pipeline.version), (name, 1))
        self.assertIn(name, [p["name"] for p in paved.pipelines.list()])
        seen = []
        run = paved.pipelines.run(name, {"who": "sdk"}, wait=True, timeout=120, progress=lambda r: seen.append(r.phase))
        self.assertEqual(run.phase, "SUCCEEDED")
        self.assertEqual(seen[-1], "SUCCEEDED")
        [step] = run.steps
        self.assertEqual(step.outputs, {"message": "hi sdk"})
        self.assertEqual(paved.pipelines.get_run(run.id).phase, "SUCCEEDED")
        self.assertIn(run.id, [r["id"] for r in paved.pipelines.runs(name)])


if __name__ == "__main__":
    unittest.main()
