"""Paved's stand-in for the `mlflow` tracking client, for workspaces where mlflow is not installed.

It is on the kernel's sys.path after site-packages, so `pip install mlflow` (or an environment that
has it) replaces it without a change to the notebook. It covers the fluent calls a notebook makes
most (start_run, log_param(s), log_metric(s), set_tag(s), end_run, active_run, set_experiment by
id), each one request to the MLflow REST API Paved serves, with the same environment the real client
reads: MLFLOW_TRACKING_URI, MLFLOW_TRACKING_TOKEN, MLFLOW_EXPERIMENT_ID, MLFLOW_RUN_CONTEXT.
Anything else raises NotImplementedError naming the real package.
"""

import json
import os
import time
import urllib.error
import urllib.request

__version__ = "0.0-paved-fallback"
_active = []


class MlflowException(Exception):
    pass


class _RunInfo:
    def __init__(self, info):
        self.run_id = info["run_id"]
        self.experiment_id = info["experiment_id"]
        self.run_name = info.get("run_name", "")
        self.status = info.get("status", "")
        self.artifact_uri = info.get("artifact_uri", "")


class ActiveRun:
    """What start_run returns: a context manager that ends the run on exit."""

    def __init__(self, info):
        self.info = _RunInfo(info)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        end_run("FINISHED" if kind is None else "FAILED")
        return False


def _call(endpoint, body=None, method="POST"):
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/")
    if not uri.startswith("http"):
        raise MlflowException("MLFLOW_TRACKING_URI is not set; Paved sets it in every workspace and job")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{endpoint}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raise MlflowException(f"{endpoint}: HTTP {error.code}: {error.read().decode(errors='replace')[:500]}") from None


def _now():
    return int(time.time() * 1000)


def set_experiment(experiment_name=None, experiment_id=None):
    """Selects the experiment new runs go to (by id, or by name when it exists)."""
    if experiment_id is None and experiment_name is not None:
        found = _call(f"experiments/get-by-name?experiment_name={urllib.request.quote(experiment_name)}", method="GET")
        experiment_id = found["experiment"]["experiment_id"]
    os.environ["MLFLOW_EXPERIMENT_ID"] = str(experiment_id)


def start_run(run_id=None, experiment_id=None, run_name=None, nested=False, tags=None, description=None):
    if _active and not nested:
        raise MlflowException(f"run {_active[-1].info.run_id} is already active; end it with mlflow.end_run() or pass nested=True")
    if run_id:
        info = _call(f"runs/get?run_id={run_id}", method="GET")["run"]["info"]
    else:
        all_tags = {}
        try:
            all_tags.update(json.loads(os.environ.get("MLFLOW_RUN_CONTEXT") or "{}"))
        except ValueError:
            pass
        all_tags.update(tags or {})
        if _active:
            all_tags["mlflow.parentRunId"] = _active[-1].info.run_id
        if description:
            all_tags["mlflow.note.content"] = description
        body = {
            "experiment_id": str(experiment_id or os.environ.get("MLFLOW_EXPERIMENT_ID") or "0"),
            "start_time": _now(),
            "tags": [{"key": k, "value": str(v)} for k, v in all_tags.items()],
        }
        if run_name:
            body["run_name"] = run_name
        info = _call("runs/create", body)["run"]["info"]
    run = ActiveRun(info)
    _active.append(run)
    return run


def active_run():
    return _active[-1] if _active else None


def _run_id():
    if not _active:
        start_run()
    return _active[-1].info.run_id


def end_run(status="FINISHED"):
    if not _active:
        return
    run = _active.pop()
    _call("runs/update", {"run_id": run.info.run_id, "status": status, "end_time": _now()})


def log_metric(key, value, step=None, timestamp=None):
    log_metrics({key: value}, step=step, timestamp=timestamp)


def log_metrics(metrics, step=None, timestamp=None):
    when = timestamp or _now()
    items = [{"key": k, "value": float(v), "timestamp": when, "step": int(step or 0)} for k, v in metrics.items()]
    _call("runs/log-batch", {"run_id": _run_id(), "metrics": items})


def log_param(key, value):
    log_params({key: value})


def log_params(params):
    _call("runs/log-batch", {"run_id": _run_id(), "params": [{"key": k, "value": str(v)} for k, v in params.items()]})


def set_tag(key, value):
    set_tags({key: value})


def set_tags(tags):
    _call("runs/log-batch", {"run_id": _run_id(), "tags": [{"key": k, "value": str(v)} for k, v in tags.items()]})


def get_tracking_uri():
    return os.environ.get("MLFLOW_TRACKING_URI", "")


def __getattr__(name):
    raise NotImplementedError(
        f"mlflow.{name} is not in Paved's stand-in for the mlflow client; install the real one in the workspace's environment (packages: [mlflow])"
    )
