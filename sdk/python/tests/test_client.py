import json
import os
import tempfile
import unittest

from support import paved, unique


class ClientTest(unittest.TestCase):
    def test_whoami_from_the_environment(self):
        me = paved.whoami()
        self.assertTrue(me["name"])
        self.assertEqual(me.name, me["name"])
        self.assertEqual(paved.client().url, os.environ["PAVED_URL"].rstrip("/"))

    def test_login_checks_the_token_and_becomes_the_default(self):
        made = paved.login(os.environ["PAVED_URL"], os.environ["PAVED_TOKEN"])
        self.assertIs(paved.client(), made)
        self.assertEqual(paved.whoami()["name"], made.whoami()["name"])
        with self.assertRaises(paved.Unauthenticated) as caught:
            paved.login(os.environ["PAVED_URL"], "pvd_not_a_real_token_0123456789")
        self.assertEqual(caught.exception.status, 401)
        self.assertEqual(caught.exception.code, "UNAUTHENTICATED")
        # The failed login left the working default in place.
        self.assertIs(paved.client(), made)

    def test_credentials_file_written_by_paved_login(self):
        home = tempfile.mkdtemp(prefix="paved-sdk-config-")
        env = {"XDG_CONFIG_HOME": home}
        os.makedirs(os.path.join(home, "paved"))
        with open(os.path.join(home, "paved", "credentials.json"), "w") as f:
            json.dump({"url": os.environ["PAVED_URL"] + "/", "token": os.environ["PAVED_TOKEN"]}, f)
        client = paved.Client(env=env)
        self.assertEqual(client.url, os.environ["PAVED_URL"].rstrip("/"))
        self.assertTrue(client.whoami()["name"])
        # The stored token is only sent to the URL it was stored for.
        elsewhere = paved.Client(env={**env, "PAVED_URL": "http://127.0.0.1:9"})
        self.assertIsNone(elsewhere.token)
        with open(os.path.join(home, "paved", "credentials.json"), "w") as f:
            f.write("{not json")
        with self.assertRaises(paved.ConfigError):
            paved.Client(env=env)

    def test_not_found_carries_the_server_message_and_fix(self):
        name = unique("no-such-model")
        with self.assertRaises(paved.NotFound) as caught:
            paved.models.get(name)
        error = caught.exception
        self.assertIsInstance(error, paved.PavedError)
        self.assertEqual((error.code, error.status), ("NOT_FOUND", 404))
        self.assertIn(name, error.message)
        self.assertTrue(error.fix)
        self.assertIn(error.fix, error.message)

    def test_a_bad_spec_is_invalid_input_with_the_problems(self):
        with self.assertRaises(paved.InvalidInput) as caught:
            paved.jobs.submit({"name": "Not A Valid Name", "command": ["true"]})
        self.assertEqual(caught.exception.status, 400)
        self.assertIn("name", caught.exception.message)
        self.assertTrue(caught.exception.details)
        # Checked before anything is sent.
        with self.assertRaises(paved.InvalidInput):
            paved.jobs.submit({"name": "x", "command": "python3 train.py"})

    def test_mlflow_errors_map_to_the_same_classes(self):
        # MLflow's routes answer {error_code, message}; the OIP case is in test_models (it needs a data plane).
        with self.assertRaises(paved.NotFound) as caught:
            paved.experiments.get(unique("no-such-experiment"))
        self.assertEqual(caught.exception.status, 404)

    def test_an_unreachable_server_is_unavailable(self):
        with self.assertRaises(paved.Unavailable) as caught:
            paved.Client("http://127.0.0.1:9", "pvd_x", env={}).whoami()
        self.assertIn("paved up", caught.exception.message)

    def test_any_other_call_through_request(self):
        self.assertEqual(paved.client().request("GET", "/api/v1/health")["status"], "ok")


if __name__ == "__main__":
    unittest.main()
