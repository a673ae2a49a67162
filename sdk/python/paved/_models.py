"""Registered models, versions, aliases, evaluations (gates) and deployments."""
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from ._http import Resource, Transport, items, seg
from .errors import GateFailed, InvalidInput

#: Phases after which an evaluation no longer changes.
FINISHED_EVALUATION_PHASES = frozenset({"Passed", "Failed", "Error"})
#: Phases in which a deployment waits for nothing more (Paused waits for a person).
SETTLED_DEPLOYMENT_PHASES = frozenset({"Succeeded", "RolledBack", "Failed", "Paused"})

Version = Union[str, int]


def _poll(get: Callable[[], Resource], done: Callable[[Resource], bool], key: Callable[[Resource], Any], what: str, timeout: Optional[float], poll_seconds: float, progress: Optional[Callable[[Resource], None]]) -> Resource:
    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = object()
    while True:
        current = get()
        seen = key(current)
        if progress is not None and seen != last:
            progress(current)
        last = seen
        if done(current):
            return current
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"{what} has not settled after {timeout:g} s (now {seen}); wait again")
        time.sleep(poll_seconds)


class Evaluations:
    """``paved.evaluations``: evaluations of model versions against their gate policy."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def get(self, evaluation_id: str) -> Resource:
        """One evaluation with its per-check figures, thresholds and fix hints."""
        return self._http.get(f"/api/v1/evaluations/{seg(evaluation_id)}")

    def list(self, *, model: Optional[str] = None, version: Optional[Version] = None, limit: int = 100) -> Iterator[Resource]:
        """Evaluations of your teams' models, newest first (one server page of at most ``limit``)."""
        yield from self._http.get("/api/v1/evaluations", model=model, version=None if version is None else str(version), limit=limit)["evaluations"]

    def wait(self, evaluation_id: str, *, timeout: Optional[float] = None, poll_seconds: float = 0.5, progress: Optional[Callable[[Resource], None]] = None, raise_on_failure: bool = False) -> Resource:
        """Polls until the evaluation is Passed, Failed or Error; with ``raise_on_failure`` a Failed
        one raises :class:`GateFailed` carrying its failed checks (Error raises InvalidInput)."""
        evaluation = _poll(lambda: self.get(evaluation_id), lambda e: e["phase"] in FINISHED_EVALUATION_PHASES, lambda e: e["phase"], f"evaluation {evaluation_id}", timeout, poll_seconds, progress)
        if raise_on_failure and evaluation["phase"] == "Failed":
            failed = [{"name": c.get("name"), "hint": c.get("hint"), **c} for c in evaluation.get("checks", []) if not c.get("passed")]
            names = ", ".join(str(c["name"]) for c in failed) or "no check results"
            raise GateFailed(
                f"evaluation {evaluation_id} of {evaluation['model']}@{evaluation['version']} failed ({names}); see paved.evaluations.get('{evaluation_id}') for the figures",
                details={"evaluation": evaluation_id, "failedChecks": failed},
                status=412,
            )
        if raise_on_failure and evaluation["phase"] == "Error":
            raise InvalidInput(f"evaluation {evaluation_id} could not run: {evaluation.get('message')}", details={"evaluation": evaluation_id})
        return evaluation


class Models:
    """``paved.models``: the model registry."""

    def __init__(self, http: Transport, evaluations: Evaluations) -> None:
        self._http = http
        self._evaluations = evaluations

    def list(self, *, filter: Optional[str] = None, limit: int = 1000) -> Iterator[Resource]:
        """Registered models by name with their aliases and newest version (one server page of at most ``limit``)."""
        yield from self._http.get("/api/v1/models", filter=filter, limit=limit)["models"]

    def get(self, name: str) -> Resource:
        """A registered model with its versions (newest first) and ``aliases`` ({alias: version})."""
        return self._http.get(f"/api/v1/models/{seg(name)}")

    def version(self, name: str, version: Version) -> Resource:
        """One version (number or alias) with its signature, lineage and files."""
        return self._http.get(f"/api/v1/models/{seg(name)}/versions/{seg(version)}")

    def register(self, name: str, source: Optional[str] = None, *, run_id: Optional[str] = None, path: str = "model", description: Optional[str] = None, team: Optional[str] = None) -> Resource:
        """Registers a new version from ``source`` (``runs:/<run_id>/<path>``, ``models:/<name>/<v>``,
        ``mlflow-artifacts:/…``), or from ``run_id`` and ``path``; the model is created when new."""
        if source is None:
            if not run_id:
                raise InvalidInput("give source='runs:/<run_id>/<path>' or run_id=")
            source = f"runs:/{run_id}/{path.strip('/')}"
        body: Dict[str, Any] = {"source": source}
        if description is not None:
            body["description"] = description
        if team is not None:
            body["team"] = team
        return self._http.post(f"/api/v1/models/{seg(name)}/versions", body)

    def set_alias(self, name: str, alias: str, version: Version, *, force: bool = False, reason: Optional[str] = None) -> Resource:
        """Points an alias at a version. A guarded alias (``production``) needs a passing evaluation,
        else :class:`GateFailed`; ``force=True`` with a ``reason`` is an admin override (recorded)."""
        body: Dict[str, Any] = {"version": str(version)}
        if force:
            body.update(force=True, reason=reason)
        return self._http.json("PUT", f"/api/v1/models/{seg(name)}/aliases/{seg(alias)}", body=body)

    def delete_alias(self, name: str, alias: str) -> None:
        self._http.request("DELETE", f"/api/v1/models/{seg(name)}/aliases/{seg(alias)}")

    def set_tags(self, name: str, tags: Optional[Mapping[str, str]] = None, *, delete: Sequence[str] = (), version: Optional[Version] = None) -> Resource:
        """Sets and deletes tags of a model, or of one version (e.g. the model_card.* fields)."""
        path = f"/api/v1/models/{seg(name)}/tags" if version is None else f"/api/v1/models/{seg(name)}/versions/{seg(version)}/tags"
        return self._http.json("PATCH", path, body={"set": dict(tags or {}), "delete": list(delete)})

    def gate_status(self, name: str) -> Resource:
        """Per version, what the production gate decides under the model's current policy."""
        return self._http.get(f"/api/v1/models/{seg(name)}/gate-status")

    def upload_evaluation_data(self, csv: Union[str, bytes, "os.PathLike[str]"], *, model: Optional[str] = None) -> str:
        """Uploads a CSV (a path, or its bytes) for evaluations; answers its ``uploads:/<sha256>`` URI."""
        if isinstance(csv, bytes):
            data = csv
        else:
            with open(os.fspath(csv), "rb") as f:
                data = f.read()
        return str(self._http.json("POST", "/api/v1/evaluation-data", query={"model": model}, data=data, content_type="text/csv")["uri"])

    def evaluate(
        self,
        name: str,
        version: Version,
        data: Union[str, "os.PathLike[str]"],
        *,
        label: str = "label",
        sensitive: Sequence[str] = (),
        reference: Optional[str] = None,
        wait: bool = True,
        timeout: Optional[float] = None,
        progress: Optional[Callable[[Resource], None]] = None,
        raise_on_failure: bool = False,
    ) -> Resource:
        """Evaluates a version against its gate policy on a CSV: a URI the platform stores
        (``runs:/``, ``models:/``, ``uploads:/``) or a local file (uploaded first). Waits for the
        result unless ``wait=False``; ``raise_on_failure`` raises :class:`GateFailed` when it fails."""

        def uri(value: Union[str, "os.PathLike[str]"]) -> str:
            text = os.fspath(value)
            return text if ":/" in text else self.upload_evaluation_data(text, model=name)

        body: Dict[str, Any] = {"data": uri(data), "label": label, "sensitive": list(sensitive)}
        if reference is not None:
            body["reference"] = uri(reference)
        evaluation = self._http.post(f"/api/v1/models/{seg(name)}/versions/{seg(version)}/evaluations", body)
        if not wait:
            return evaluation
        return self._evaluations.wait(evaluation["id"], timeout=timeout, progress=progress, raise_on_failure=raise_on_failure)


class Deployments:
    """``paved.deployments``: rollouts of model versions to environments."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def create(
        self,
        model: str,
        version: Optional[Version] = None,
        *,
        alias: Optional[str] = None,
        environment: str = "production",
        strategy: str = "canary",
        steps: Optional[Sequence[int]] = None,
        step_interval_seconds: Optional[float] = None,
        **extra: Any,
    ) -> Resource:
        """Starts a deployment (production needs a passing evaluation, else :class:`GateFailed`).
        ``strategy``: canary, ab, shadow or replace; ``extra`` takes the API's other fields
        (``analysis``, ``ab``, ``replicas``, ``maxReplicas``, ``targetP95Ms``, ``monitor``)."""
        body: Dict[str, Any] = {"model": model, "environment": environment, "strategy": strategy, **extra}
        if version is not None:
            body["version"] = str(version)
        if alias is not None:
            body["alias"] = alias
        if steps is not None:
            body["steps"] = list(steps)
        if step_interval_seconds is not None:
            body["stepIntervalSeconds"] = step_interval_seconds
        return self._http.post("/api/v1/deployments", body)

    def get(self, deployment_id: str) -> Resource:
        """A deployment: spec, status (phase, traffic, analysis, history) and its OIP endpoint."""
        return self._http.get(f"/api/v1/deployments/{seg(deployment_id)}")

    def list(self, *, model: Optional[str] = None, environment: Optional[str] = None, page_size: int = 100, limit: Optional[int] = None) -> Iterator[Resource]:
        """Your teams' deployments, newest first, followed page by page."""

        def fetch(token: Optional[str]) -> Tuple[List[Resource], Optional[str]]:
            page = self._http.get("/api/v1/deployments", model=model, environment=environment, limit=page_size, pageToken=token)
            return page.get("deployments", []), page.get("nextPageToken")

        return items(fetch, limit)

    def follow(self, deployment_id: str, *, timeout: Optional[float] = None, poll_seconds: float = 0.5, progress: Optional[Callable[[Resource], None]] = None) -> Resource:
        """Polls a deployment until it settles (Succeeded, RolledBack, Failed or Paused) and answers it;
        ``progress(deployment)`` hears each change of phase, traffic or history."""

        def key(d: Resource) -> Any:
            status = d.get("status", {})
            return (status.get("phase"), repr(status.get("traffic")), len(status.get("history") or []))

        return _poll(lambda: self.get(deployment_id), lambda d: d["status"]["phase"] in SETTLED_DEPLOYMENT_PHASES, key, f"deployment {deployment_id}", timeout, poll_seconds, progress)

    def deploy(self, model: str, version: Optional[Version] = None, *, timeout: Optional[float] = None, progress: Optional[Callable[[Resource], None]] = None, **kwargs: Any) -> Resource:
        """create() then follow(): answers the settled deployment."""
        return self.follow(self.create(model, version, **kwargs)["id"], timeout=timeout, progress=progress)

    def promote(self, deployment_id: str, *, force: bool = False, reason: Optional[str] = None) -> Resource:
        """Skips the remaining steps. A failing or missing analysis raises :class:`GateFailed`
        unless ``force=True`` with a ``reason`` (recorded)."""
        return self._http.post(f"/api/v1/deployments/{seg(deployment_id)}/promote", {"force": True, "reason": reason} if force else {})

    def rollback(self, deployment_id: str) -> Resource:
        return self._http.json("POST", f"/api/v1/deployments/{seg(deployment_id)}/rollback")

    def pause(self, deployment_id: str) -> Resource:
        return self._http.json("POST", f"/api/v1/deployments/{seg(deployment_id)}/pause")

    def resume(self, deployment_id: str) -> Resource:
        return self._http.json("POST", f"/api/v1/deployments/{seg(deployment_id)}/resume")
