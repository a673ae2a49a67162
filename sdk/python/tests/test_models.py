import os
import tempfile
import unittest

from support import onnx_model, paved, unique

try:
    import numpy as np

    HAS_NUMPY = True
except ImportError:
    HAS_NUMPY = False

MODEL_BYTES = onnx_model()
NO_MODEL = "no ONNX model: set PAVED_TEST_ONNX_MODEL (test/sdk-python.test.ts writes one) or install torch (Debian: python3-torch)"


def registered(name: str):
    """A run holding the ONNX model as model/model.onnx, registered as a new version of `name`."""
    run = paved.runs.create(unique("sdk-models"), name="onnx")
    paved.runs.upload_artifact(run, "model/model.onnx", MODEL_BYTES)
    return paved.models.register(name, run_id=run.id, description="from the SDK tests")


@unittest.skipIf(MODEL_BYTES is None, NO_MODEL)
class ModelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.name = unique("sdk-model")
        cls.version = registered(cls.name)

    def test_register_and_alias(self):
        self.assertEqual(self.version.version, "1")
        self.assertEqual(self.version.source.split("/")[-1], "model")
        self.assertEqual(paved.models.set_alias(self.name, "champion", self.version.version)["version"], "1")
        model = paved.models.get(self.name)
        self.assertEqual(model.aliases["champion"], "1")
        self.assertEqual(paved.models.version(self.name, "champion").version, "1")
        self.assertIn(self.name, [m["name"] for m in paved.models.list()])
        paved.models.delete_alias(self.name, "champion")
        self.assertNotIn("champion", paved.models.get(self.name).aliases)

    def test_production_without_an_evaluation_is_gate_failed(self):
        name = unique("sdk-ungated")
        version = registered(name)
        with self.assertRaises(paved.GateFailed) as caught:
            paved.models.set_alias(name, "production", version.version)
        error = caught.exception
        self.assertEqual((error.code, error.status), ("GATE_FAILED", 412))
        self.assertEqual(error.failed_checks, [])
        self.assertIn("paved evaluate", error.fix)

    def test_evaluate_waits_and_a_failed_gate_names_its_checks(self):
        csv = os.path.join(tempfile.mkdtemp(prefix="paved-sdk-eval-"), "eval.csv")
        with open(csv, "w") as f:
            f.write("f1,f2,f3,f4,label\n")
            for i in range(40):
                f.write(f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{i % 3 / 3:.3f},{i % 2:.3f},{i % 2}\n")
        phases = []
        evaluation = paved.models.evaluate(self.name, self.version.version, csv, timeout=120, progress=lambda e: phases.append(e.phase))
        self.assertIn(evaluation.phase, ("Passed", "Failed"))
        self.assertEqual(phases[-1], evaluation.phase)
        self.assertTrue(evaluation.checks)
        self.assertEqual(paved.evaluations.get(evaluation.id).phase, evaluation.phase)
        if evaluation.phase == "Failed":
            failed = sorted(c["name"] for c in evaluation.checks if not c["passed"])
            with self.assertRaises(paved.GateFailed) as caught:
                paved.evaluations.wait(evaluation.id, raise_on_failure=True)
            self.assertEqual(sorted(c["name"] for c in caught.exception.failed_checks), failed)
            # The server's own GATE_FAILED names the same checks.
            with self.assertRaises(paved.GateFailed) as server:
                paved.models.set_alias(self.name, "production", self.version.version)
            self.assertEqual(sorted(c["name"] for c in server.exception.failed_checks), failed)
            self.assertEqual(server.exception.evaluation, evaluation.id)


@unittest.skipIf(MODEL_BYTES is None, NO_MODEL)
class DeployAndPredictTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.name = unique("sdk-serve")
        cls.version = registered(cls.name)
        cls.steps = []
        cls.deployment = paved.deployments.deploy(cls.name, cls.version.version, environment="staging", strategy="replace", timeout=120, progress=lambda d: cls.steps.append(d.status.phase))

    def test_deploy_follows_until_it_settles(self):
        self.assertEqual(self.deployment.status.phase, "Succeeded", self.deployment.status.get("history"))
        self.assertEqual(self.steps[-1], "Succeeded")
        self.assertEqual(self.deployment.endpoint, f"/environments/staging/v2/models/{self.name}")
        self.assertIn(self.deployment.id, [d.id for d in paved.deployments.list(model=self.name, page_size=1)])

    def test_a_canary_refuses_promote_without_analysis_and_rolls_back(self):
        canary = registered(self.name)
        started = paved.deployments.create(self.name, canary.version, environment="staging", strategy="canary", step_interval_seconds=3600)
        self.assertEqual(started.status.phase, "Progressing")
        with self.assertRaises(paved.GateFailed) as caught:
            paved.deployments.promote(started.id)
        self.assertEqual(caught.exception.details["verdict"], "missing")
        paved.deployments.rollback(started.id)
        settled = paved.deployments.follow(started.id, timeout=120)
        self.assertEqual(settled.status.phase, "RolledBack")
        # The stable version keeps serving the environment.
        self.assertEqual(paved.predict(self.name, [[0.1, 0.2, 0.3, 0.4]], environment="staging", raw=True)["model_version"], self.version.version)

    @unittest.skipUnless(HAS_NUMPY, "numpy is not installed (Debian: python3-numpy); lists are tested without it")
    def test_predict_numpy_in_numpy_out(self):
        predictor = paved.predictor(self.name, environment="staging")
        [declared] = predictor.metadata()["inputs"]
        self.assertEqual(declared["datatype"], "FP32")
        batch = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 0.0]])  # float64: cast to FP32
        out = predictor.predict(batch)
        [(name, scores)] = out.items()
        self.assertIsInstance(scores, np.ndarray)
        self.assertEqual(scores.dtype, np.float32)
        self.assertEqual(scores.shape[0], 3)
        # Row by row gives the same answers as the batch, and the named version the same as the environment's routing.
        for i in range(3):
            row = paved.predict(self.name, {declared["name"]: batch[i : i + 1].astype(np.float32)}, environment="staging", version=self.version.version)
            np.testing.assert_allclose(row[name][0], scores[i], rtol=1e-6)
        raw = predictor.predict(batch, raw=True)
        self.assertEqual(raw["model_version"], "1")

    def test_predict_with_lists(self):
        out = paved.predict(self.name, [[0.1, 0.2, 0.3, 0.4]], environment="staging", as_numpy=False)
        [values] = out.values()
        self.assertIsInstance(values, list)
        self.assertEqual(len(values), 1)
        self.assertTrue(all(isinstance(v, float) for v in values[0]))

    def test_an_unknown_model_is_not_found_over_oip(self):
        with self.assertRaises(paved.NotFound) as caught:
            paved.predict(unique("no-such-model"), [[1.0, 2.0, 3.0, 4.0]], environment="staging")
        self.assertEqual(caught.exception.status, 404)
        self.assertIn("no-such-model", caught.exception.message)

    def test_a_wrong_shape_is_refused_by_the_data_plane(self):
        with self.assertRaises(paved.InvalidInput):
            paved.predict(self.name, [[0.1, 0.2, 0.3]], environment="staging")


class DtypeMappingTest(unittest.TestCase):
    """The datatype table, without a server."""

    @unittest.skipUnless(HAS_NUMPY, "numpy is not installed (Debian: python3-numpy)")
    def test_numpy_dtypes_round_trip(self):
        from paved._predict import decode_tensor, encode_tensor

        for dtype, datatype in (("float32", "FP32"), ("float64", "FP64"), ("int64", "INT64"), ("int32", "INT32"), ("bool", "BOOL")):
            array = np.arange(6).reshape(2, 3).astype(dtype)
            tensor = encode_tensor("x", array)
            self.assertEqual((tensor["datatype"], tensor["shape"]), (datatype, [2, 3]))
            back = decode_tensor(tensor)
            self.assertEqual(back.dtype, np.dtype(dtype))
            np.testing.assert_array_equal(back, array)
        words = encode_tensor("w", np.array(["a", "bc"]))
        self.assertEqual((words["datatype"], words["data"]), ("BYTES", ["a", "bc"]))
        self.assertEqual(list(decode_tensor(words)), ["a", "bc"])

    def test_lists_without_numpy(self):
        from paved._predict import decode_tensor, encode_tensor

        self.assertEqual(encode_tensor("x", [[1, 2], [3, 4]])["datatype"], "INT64")
        self.assertEqual(encode_tensor("x", [[1.5, 2], [3, 4]])["datatype"], "FP32")
        self.assertEqual(encode_tensor("x", [True, False])["datatype"], "BOOL")
        self.assertEqual(encode_tensor("x", ["a"])["datatype"], "BYTES")
        self.assertEqual(decode_tensor({"name": "y", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}, as_numpy=False), [[1, 2], [3, 4]])


if __name__ == "__main__":
    unittest.main()
