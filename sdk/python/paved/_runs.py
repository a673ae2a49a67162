"""Experiments and runs: search with MLflow's filter syntax (paged), get, metric history, pandas."""
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._http import Resource, Transport, items, pages, seg, wrap
from .errors import NotFound

MLFLOW = "/api/2.0/mlflow"


def run_from_mlflow(run: Mapping[str, Any]) -> Resource:
    """An MLflow run (info, data) in the shape of Paved's own ``GET /api/v1/runs/:id``."""
    info = run.get("info", {})
    data = run.get("data", {})
    return wrap(
        {
            "id": info.get("run_id"),
            "experimentId": info.get("experiment_id"),
            "name": info.get("run_name"),
            "status": info.get("status"),
            "lifecycleStage": info.get("lifecycle_stage"),
            "user": info.get("user_id"),
            "startTime": info.get("start_time"),
            "endTime": info.get("end_time"),
            "artifactUri": info.get("artifact_uri"),
            "params": {p["key"]: p.get("value") for p in data.get("params", [])},
            "tags": {t["key"]: t.get("value") for t in data.get("tags", [])},
            "metrics": {m["key"]: {"value": m.get("value"), "step": m.get("step"), "timestamp": m.get("timestamp")} for m in data.get("metrics", [])},
        }
    )


class RunList(Iterable[Resource]):
    """The runs a search found, fetched a page at a time as you iterate (each run a Resource in
    ``GET /api/v1/runs/:id``'s shape). Iterate it again to search again."""

    def __init__(self, fetch: Callable[[Optional[str]], Tuple[List[Resource], Optional[str]]], limit: Optional[int]) -> None:
        self._fetch = fetch
        self._limit = limit

    def __iter__(self) -> Iterator[Resource]:
        return items(self._fetch, self._limit)

    def pages(self) -> Iterator[List[Resource]]:
        """The runs a server page at a time."""
        return pages(self._fetch)

    def to_list(self) -> List[Resource]:
        return list(self)

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per run, with mlflow.search_runs' columns: run_id,
        experiment_id, run_name, status, start_time, end_time, metrics.<key>, params.<key>, tags.<key>."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError("to_pandas() needs pandas; install it (`pip install pandas`, Debian: python3-pandas) or iterate the runs as dicts") from None
        rows = []
        for run in self:
            row: Dict[str, Any] = {
                "run_id": run["id"],
                "experiment_id": run["experimentId"],
                "run_name": run["name"],
                "status": run["status"],
                "start_time": pd.to_datetime(run["startTime"], unit="ms", utc=True) if run.get("startTime") is not None else None,
                "end_time": pd.to_datetime(run["endTime"], unit="ms", utc=True) if run.get("endTime") is not None else None,
            }
            row.update({f"metrics.{k}": (v or {}).get("value") for k, v in run["metrics"].items()})
            row.update({f"params.{k}": v for k, v in run["params"].items()})
            row.update({f"tags.{k}": v for k, v in run["tags"].items()})
            rows.append(row)
        columns = ["run_id", "experiment_id", "run_name", "status", "start_time", "end_time"]
        return pd.DataFrame(rows, columns=columns + sorted({c for r in rows for c in r} - set(columns)))


class Experiments:
    """``paved.experiments``: the experiments of your teams."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self, *, filter: Optional[str] = None, order_by: Optional[Sequence[str]] = None, page_size: int = 1000, limit: Optional[int] = None) -> Iterator[Resource]:
        """Every active experiment (MLflow's experiments/search, followed page by page)."""

        def fetch(token: Optional[str]) -> Tuple[List[Resource], Optional[str]]:
            body = {"max_results": page_size, "page_token": token, "filter": filter, "order_by": list(order_by or [])}
            page = self._http.post(f"{MLFLOW}/experiments/search", {k: v for k, v in body.items() if v is not None})
            return page.get("experiments", []), page.get("next_page_token")

        return items(fetch, limit)

    def get(self, name_or_id: str) -> Resource:
        """An experiment by name (or by id when no experiment has that name)."""
        try:
            return self._http.get(f"{MLFLOW}/experiments/get-by-name", experiment_name=name_or_id)["experiment"]
        except NotFound:
            if not str(name_or_id).isdigit():
                raise
            return self._http.get(f"{MLFLOW}/experiments/get", experiment_id=name_or_id)["experiment"]

    def create(self, name: str, *, team: Optional[str] = None) -> str:
        """Creates an experiment (in ``team``, default your token's); answers its id."""
        tags = [{"key": "paved.team", "value": team}] if team else []
        return str(self._http.post(f"{MLFLOW}/experiments/create", {"name": name, "tags": tags})["experiment_id"])


class Runs:
    """``paved.runs``: search, read and (for scripts and tests) record runs."""

    def __init__(self, http: Transport, experiments: Experiments) -> None:
        self._http = http
        self._experiments = experiments

    def search(
        self,
        filter: Optional[str] = None,
        *,
        experiments: Union[None, str, Sequence[str]] = None,
        order_by: Union[None, str, Sequence[str]] = None,
        page_size: int = 1000,
        limit: Optional[int] = None,
        view: str = "ACTIVE_ONLY",
    ) -> RunList:
        """Runs matching an MLflow filter string, e.g. ``"metrics.accuracy > 0.9 and params.lr = '0.01'"``.

        ``experiments``: names or ids (default: every experiment you can see); ``order_by`` e.g.
        ``["metrics.accuracy DESC"]``; pages of ``page_size`` are fetched as you iterate, at most
        ``limit`` runs in all. ``.to_pandas()`` makes a DataFrame.
        """
        names = [experiments] if isinstance(experiments, str) else list(experiments or [])
        order = [order_by] if isinstance(order_by, str) else list(order_by or [])
        ids: List[str] = []

        def fetch(token: Optional[str]) -> Tuple[List[Resource], Optional[str]]:
            if not ids:
                ids.extend(self._experiment_ids(names))
            body: Dict[str, Any] = {"experiment_ids": ids, "max_results": page_size, "order_by": order, "run_view_type": view}
            if filter:
                body["filter"] = filter
            if token:
                body["page_token"] = token
            page = self._http.post(f"{MLFLOW}/runs/search", body)
            return [run_from_mlflow(r) for r in page.get("runs", [])], page.get("next_page_token")

        return RunList(fetch, limit)

    def _experiment_ids(self, names: List[str]) -> List[str]:
        if not names:
            return [e["experiment_id"] for e in self._experiments.list()] or ["0"]
        return [str(self._experiments.get(n)["experiment_id"]) for n in names]

    def get(self, run_id: str) -> Resource:
        """One run with its params, tags, latest metrics, source and dataset inputs."""
        return self._http.get(f"/api/v1/runs/{seg(run_id)}")

    def metric_history(self, run_id: str, key: str, *, page_size: Optional[int] = None) -> Iterator[Resource]:
        """Every logged point (``value``, ``step``, ``timestamp``) of one metric, by step, page by page."""

        def fetch(token: Optional[str]) -> Tuple[List[Resource], Optional[str]]:
            page = self._http.get(f"/api/v1/runs/{seg(run_id)}/metrics/{seg(key)}", pageToken=token, limit=page_size)
            return page.get("history", []), page.get("nextPageToken")

        return items(fetch)

    def artifacts(self, run_id: str, path: Optional[str] = None) -> List[Resource]:
        """The files and folders directly under an artifact folder of a run."""
        return self._http.get(f"/api/v1/runs/{seg(run_id)}/artifacts", path=path)["files"]

    def download_artifact(self, run_id: str, path: str) -> bytes:
        """One artifact file's bytes."""
        return self._http.request("GET", f"/api/v1/runs/{seg(run_id)}/artifacts/content", query={"path": path}).content

    def upload_artifact(self, run: Mapping[str, Any], path: str, data: bytes) -> None:
        """Stores bytes as an artifact of a run (``run`` as get or create answers it), e.g. ``model/model.onnx``."""
        uri = str(run.get("artifactUri") or "")
        prefix = "mlflow-artifacts:/"
        if not uri.startswith(prefix):
            raise NotFound(f"run {run.get('id')} has artifact URI '{uri}', not one the artifact proxy serves; upload with the mlflow client instead")
        self._http.request("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{uri[len(prefix):].strip('/')}/{path.lstrip('/')}", data=data)

    def create(
        self,
        experiment: str,
        *,
        name: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        metrics: Optional[Mapping[str, float]] = None,
        tags: Optional[Mapping[str, str]] = None,
        finish: bool = True,
    ) -> Resource:
        """Records a run in an experiment (by name, created when new) with params, metrics (step 0)
        and tags, FINISHED unless ``finish=False``: for scripts; training code uses mlflow."""
        try:
            experiment_id = str(self._experiments.get(experiment)["experiment_id"])
        except NotFound:
            experiment_id = self._experiments.create(experiment)
        now = int(time.time() * 1000)
        body: Dict[str, Any] = {"experiment_id": experiment_id, "start_time": now, "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()]}
        if name:
            body["run_name"] = name
        run_id = self._http.post(f"{MLFLOW}/runs/create", body)["run"]["info"]["run_id"]
        batch = {
            "run_id": run_id,
            "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
            "metrics": [{"key": k, "value": float(v), "timestamp": now, "step": 0} for k, v in (metrics or {}).items()],
        }
        if batch["params"] or batch["metrics"]:
            self._http.post(f"{MLFLOW}/runs/log-batch", batch)
        if finish:
            self._http.post(f"{MLFLOW}/runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)})
        return self.get(run_id)
