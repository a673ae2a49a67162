"""Datasets (versioned, content-addressed files) and pipelines (DAGs of steps)."""
import os
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from ._http import Resource, Transport, seg
from ._jobs import load_yaml_documents
from ._models import _poll
from .errors import InvalidInput, NotFound

#: Most files one version holds (the CLI's bound).
MAX_FILES = 10_000
#: Phases after which a pipeline run no longer changes.
FINISHED_PIPELINE_PHASES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

Version = Union[str, int]
PathLike = Union[str, "os.PathLike[str]"]


def collect_files(inputs: List[PathLike]) -> List[Tuple[str, str]]:
    """(local path, path in the version): a file as its name, a folder's regular files by their
    path inside it (hidden ones skipped, links not followed), as ``paved datasets create`` does."""
    out: List[Tuple[str, str]] = []
    seen = set()

    def add(local: str, path: str) -> None:
        if path in seen:
            raise InvalidInput(f"two files would both be {path} in the version; rename one or upload the folder that holds both")
        seen.add(path)
        if len(out) >= MAX_FILES:
            raise InvalidInput(f"a version holds at most {MAX_FILES} files; pack small files together (e.g. into Parquet) or upload fewer")
        out.append((local, path))

    for given in inputs:
        local = os.path.abspath(os.fspath(given))
        if not os.path.exists(local):
            raise NotFound(f"'{os.fspath(given)}' does not exist; check the path")
        if os.path.isfile(local):
            add(local, os.path.basename(local))
        elif os.path.isdir(local):
            for folder, dirs, files in os.walk(local, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
                for name in sorted(files):
                    full = os.path.join(folder, name)
                    if name.startswith(".") or os.path.islink(full) or not os.path.isfile(full):
                        continue
                    add(full, os.path.relpath(full, local).replace(os.sep, "/"))
        else:
            raise InvalidInput(f"'{os.fspath(given)}' is neither a file nor a folder; give files or folders")
    if not out:
        raise InvalidInput("no files found (hidden files are skipped); give at least one file")
    return out


class Datasets:
    """``paved.datasets``: immutable dataset versions (``datasets:/<name>@<version|alias>``)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def list(self, *, limit: Optional[int] = None) -> Iterator[Resource]:
        """Your teams' datasets, most recently changed first (one server page)."""
        yield from self._http.get("/api/v1/datasets", limit=limit)["datasets"]

    def get(self, name: str) -> Resource:
        """A dataset: team, latest version, number of versions, aliases."""
        return self._http.get(f"/api/v1/datasets/{seg(name)}")

    def versions(self, name: str, *, limit: Optional[int] = None) -> Iterator[Resource]:
        """A dataset's versions, newest first (one server page)."""
        yield from self._http.get(f"/api/v1/datasets/{seg(name)}/versions", limit=limit)["versions"]

    def version(self, name: str, version: Version = "latest") -> Resource:
        """One version (number, alias or ``latest``): digest, files, schemas and statistics, lineage."""
        return self._http.get(f"/api/v1/datasets/{seg(name)}/versions/{seg(version)}")

    def preview(self, name: str, version: Version = "latest", *, rows: Optional[int] = None, path: Optional[str] = None) -> Resource:
        """The first rows (≤ 1000) of a CSV or Parquet file of a version."""
        return self._http.get(f"/api/v1/datasets/{seg(name)}/versions/{seg(version)}/preview", rows=rows, path=path)

    def diff(self, name: str, from_version: Version, to_version: Version) -> Resource:
        return self._http.get(f"/api/v1/datasets/{seg(name)}/diff", **{"from": str(from_version), "to": str(to_version)})

    def set_alias(self, name: str, alias: str, version: Version) -> Resource:
        return self._http.json("PUT", f"/api/v1/datasets/{seg(name)}/aliases/{seg(alias)}", body={"version": version})

    def delete_alias(self, name: str, alias: str) -> Resource:
        return self._http.json("DELETE", f"/api/v1/datasets/{seg(name)}/aliases/{seg(alias)}")

    def upload_file(self, path: PathLike, *, team: Optional[str] = None) -> Resource:
        """Uploads one file's bytes (streamed from disk); answers its ``digest``, ``size`` and ``team``."""
        with open(os.fspath(path), "rb") as f:
            return self._http.json("POST", "/api/v1/dataset-uploads", query={"team": team}, data=f, content_type="application/octet-stream", timeout=max(self._http.timeout, 600))

    def create(
        self,
        name: str,
        *paths: PathLike,
        description: Optional[str] = None,
        alias: Optional[str] = None,
        team: Optional[str] = None,
        progress: Optional[Callable[[str], None]] = None,
    ) -> Resource:
        """Uploads local files and folders as the dataset's next version (the dataset is created when
        new). The same files as an existing version answer that version (``existing: True``)."""
        files = collect_files(list(paths))
        if team is None:
            try:
                team = self.get(name).get("team")
            except NotFound:
                team = None
        uploaded: List[Dict[str, str]] = []
        for local, path in files:
            if progress is not None:
                progress(path)
            uploaded.append({"path": path, "digest": self.upload_file(local, team=team)["digest"]})
        body: Dict[str, Any] = {"files": uploaded}
        for key, value in (("team", team), ("description", description), ("alias", alias)):
            if value is not None:
                body[key] = value
        return self._http.post(f"/api/v1/datasets/{seg(name)}/versions", body)


def _resolve_pipeline(spec: Union[Mapping[str, Any], PathLike]) -> Dict[str, Any]:
    if isinstance(spec, Mapping):
        raw, folder = dict(spec), os.getcwd()
    else:
        text = os.fspath(spec)
        if "\n" not in text and os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                documents = load_yaml_documents(f.read(), text)
            folder = os.path.dirname(os.path.abspath(text))
        else:
            documents = load_yaml_documents(text, "the pipeline text")
            folder = os.getcwd()
        if len(documents) != 1:
            raise InvalidInput(f"the pipeline text holds {len(documents)} documents; apply one at a time")
        raw = documents[0]
    inner = raw.get("spec")
    if not isinstance(inner, dict) or not isinstance(inner.get("steps"), list):
        raise InvalidInput("a Pipeline needs metadata.name and spec.steps, e.g. spec: { steps: [{ name: train, job: { command: [python3, train.py] } }] }")
    steps = []
    for step in inner["steps"]:
        job = step.get("job") if isinstance(step, dict) else None
        if isinstance(job, dict):
            working_dir = job.get("workingDir")
            job = {**job, "workingDir": os.path.abspath(os.path.join(folder, working_dir)) if working_dir else folder}
            step = {**step, "job": job}
        steps.append(step)
    return {**raw, "kind": raw.get("kind", "Pipeline"), "spec": {**inner, "steps": steps}}


class Pipelines:
    """``paved.pipelines``: DAGs of job, evaluate, register, deploy, … steps."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def apply(self, spec: Union[Mapping[str, Any], PathLike]) -> Resource:
        """Stores a pipeline (a dict, a YAML file or YAML text, ``kind: Pipeline``); a changed spec becomes a new version."""
        return self._http.post("/api/v1/pipelines", _resolve_pipeline(spec))

    def list(self, *, limit: Optional[int] = None) -> Iterator[Resource]:
        yield from self._http.get("/api/v1/pipelines", limit=limit)["pipelines"]

    def get(self, name: str) -> Resource:
        return self._http.get(f"/api/v1/pipelines/{seg(name)}")

    def run(self, name: str, parameters: Optional[Mapping[str, Any]] = None, *, wait: bool = False, timeout: Optional[float] = None, progress: Optional[Callable[[Resource], None]] = None) -> Resource:
        """Starts a run with parameters (over the pipeline's defaults); with ``wait`` answers it finished."""
        started = self._http.post(f"/api/v1/pipelines/{seg(name)}/runs", {"parameters": dict(parameters or {})})
        return self.wait(started["id"], timeout=timeout, progress=progress) if wait else started

    def runs(self, name: str, *, limit: Optional[int] = None) -> Iterator[Resource]:
        """A pipeline's runs, newest first (one server page)."""
        yield from self._http.get(f"/api/v1/pipelines/{seg(name)}/runs", limit=limit)["runs"]

    def get_run(self, run_id: str) -> Resource:
        """A run: each step's phase, attempt, outputs and cache use; its events."""
        return self._http.get(f"/api/v1/pipeline-runs/{seg(run_id)}")

    def cancel_run(self, run_id: str) -> Resource:
        return self._http.post(f"/api/v1/pipeline-runs/{seg(run_id)}/cancel")

    def logs(self, run_id: str, *, step: Optional[str] = None) -> List[Resource]:
        """The end of each job step's log (``step``, ``text``), or of one step."""
        return self._http.get(f"/api/v1/pipeline-runs/{seg(run_id)}/logs", step=step)["logs"]

    def wait(self, run_id: str, *, timeout: Optional[float] = None, poll_seconds: float = 0.5, progress: Optional[Callable[[Resource], None]] = None) -> Resource:
        """Polls a run until it is SUCCEEDED, FAILED or CANCELLED; ``progress(run)`` hears each step change."""

        def key(run: Resource) -> Any:
            return (run.get("phase"), tuple((s.get("name"), s.get("phase")) for s in run.get("steps", []) if isinstance(s, dict)))

        return _poll(lambda: self.get_run(run_id), lambda r: r["phase"] in FINISHED_PIPELINE_PHASES, key, f"pipeline run {run_id}", timeout, poll_seconds, progress)
