import unittest

from support import paved, unique

try:
    import pandas  # noqa: F401

    HAS_PANDAS = True
except ImportError:
    HAS_PANDAS = False


class RunsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.experiment = unique("sdk-runs")
        cls.runs = [paved.runs.create(cls.experiment, name=f"run-{i}", params={"lr": 0.1 * (i + 1)}, metrics={"accuracy": i / 10}) for i in range(7)]

    def test_search_follows_pages(self):
        found = paved.runs.search(experiments=self.experiment, page_size=2, order_by="metrics.accuracy ASC")
        pages = list(found.pages())
        self.assertEqual([len(p) for p in pages], [2, 2, 2, 1])
        self.assertEqual([r.name for r in found], [f"run-{i}" for i in range(7)])
        self.assertEqual([r.name for r in paved.runs.search(experiments=self.experiment, page_size=2, limit=3, order_by="metrics.accuracy ASC")], ["run-0", "run-1", "run-2"])

    def test_search_with_an_mlflow_filter(self):
        found = paved.runs.search("metrics.accuracy >= 0.5 and params.lr != '0.1'", experiments=[self.experiment], order_by=["metrics.accuracy DESC"]).to_list()
        self.assertEqual([r.name for r in found], ["run-6", "run-5"])
        self.assertEqual(found[0].metrics["accuracy"]["value"], 0.6)
        # Every experiment when none is named.
        self.assertIn(self.runs[0].id, [r.id for r in paved.runs.search("attributes.run_name = 'run-0'")])

    def test_a_bad_filter_is_invalid_input(self):
        with self.assertRaises(paved.InvalidInput):
            paved.runs.search("metrics.accuracy >>> 1", experiments=self.experiment).to_list()

    def test_experiments_list_pages(self):
        names = [e["name"] for e in paved.experiments.list(page_size=1)]
        self.assertIn(self.experiment, names)

    @unittest.skipUnless(HAS_PANDAS, "pandas is not installed (Debian: python3-pandas); to_pandas() needs it")
    def test_search_into_pandas(self):
        df = paved.runs.search(experiments=self.experiment, order_by="metrics.accuracy ASC", page_size=3).to_pandas()
        self.assertEqual(len(df), 7)
        self.assertEqual(list(df["run_name"]), [f"run-{i}" for i in range(7)])
        self.assertAlmostEqual(df["metrics.accuracy"].iloc[6], 0.6)
        self.assertIn("params.lr", df.columns)

    def test_to_pandas_without_pandas_says_how_to_get_it(self):
        if HAS_PANDAS:
            self.skipTest("pandas is installed; the message for its absence cannot be seen")
        with self.assertRaises(ImportError) as caught:
            paved.runs.search(experiments=self.experiment).to_pandas()
        self.assertIn("pip install pandas", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
