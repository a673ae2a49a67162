"""A stdlib-only stand-in for the few `mlflow` calls the quickstart makes.

Each function maps 1:1 onto the MLflow fluent API, so swapping this module for the real client
is a one-line change once `pip install mlflow` is possible:

    paved_log.log_params(d)            ->  mlflow.log_params(d)
    paved_log.log_metrics(d, step=s)   ->  mlflow.log_metrics(d, step=s)
    paved_log.set_tags(d)              ->  mlflow.set_tags(d)

Primary path: when Paved runs the program it sets MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and
MLFLOW_TRACKING_TOKEN, and every call becomes one POST to the MLflow REST endpoint
`runs/log-batch` of that run, exactly what the mlflow client sends. Run by hand (no
MLFLOW_RUN_ID) or if a POST fails, the same values are printed as `paved.metric` lines, which a
job's log also turns into metrics; they are never sent both ways, so nothing is counted twice.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

_URI = os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/")
_RUN_ID = os.environ.get("MLFLOW_RUN_ID", "")
_TOKEN = os.environ.get("MLFLOW_TRACKING_TOKEN", "")
# Paved already records a job's hyperparameters as params; logging them again could only
# disagree on formatting (1e-05 vs 0.00001), and params are write-once.
try:
    _RECORDED = set(json.loads(os.environ.get("PAVED_HYPERPARAMETERS") or "{}"))
except ValueError:
    _RECORDED = set()


def tracking_enabled():
    """True when calls go to a tracking server (the program runs as a Paved job)."""
    return bool(_URI.startswith("http") and _RUN_ID)


def _post(endpoint, body):
    request = urllib.request.Request(
        f"{_URI}/api/2.0/mlflow/{endpoint}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {_TOKEN}"} if _TOKEN else {})},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _log_batch(metrics=(), params=(), tags=()):
    """Sends one runs/log-batch; returns False (after a warning) when it could not."""
    if not tracking_enabled():
        return False
    try:
        _post("runs/log-batch", {"run_id": _RUN_ID, "metrics": list(metrics), "params": list(params), "tags": list(tags)})
        return True
    except (urllib.error.URLError, OSError) as error:
        detail = error.read().decode(errors="replace")[:300] if isinstance(error, urllib.error.HTTPError) else str(error)
        print(f"paved_log: could not reach the tracking server ({detail}); printing instead", file=sys.stderr)
        return False


def _number(value):
    return float(value)  # accepts numpy scalars and 0-d tensors' .item()


def log_params(params):
    """mlflow.log_params: write-once string values."""
    items = [{"key": k, "value": str(v)} for k, v in params.items() if k not in _RECORDED]
    if items and not _log_batch(params=items):
        for item in items:
            print(f"paved.param {item['key']}={item['value']}", flush=True)


def log_metrics(metrics, step=0):
    """mlflow.log_metrics: one point per key at `step`, stamped now."""
    now = int(time.time() * 1000)
    items = [{"key": k, "value": _number(v), "timestamp": now, "step": int(step)} for k, v in metrics.items()]
    if items and not _log_batch(metrics=items):
        pairs = " ".join(f"{k}={_number(v):.6g}" for k, v in metrics.items())
        print(f"paved.metric {pairs} step={int(step)}", flush=True)


def log_metric(key, value, step=0):
    """mlflow.log_metric."""
    log_metrics({key: value}, step=step)


def set_tags(tags):
    """mlflow.set_tags."""
    items = [{"key": k, "value": str(v)} for k, v in tags.items()]
    if items and not _log_batch(tags=items):
        for item in items:
            print(f"paved.tag {item['key']}={item['value']}", flush=True)
