"""Jobs: submit (a dict or YAML), get, list, wait with progress, stream logs, cancel."""
import codecs
import os
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Union

from ._http import Resource, Transport, seg
from .errors import Conflict, InvalidInput, NotFound

#: Phases after which a job no longer changes.
TERMINAL_PHASES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})

JobSpec = Union[Mapping[str, Any], str, "os.PathLike[str]"]


def load_yaml_documents(text: str, where: str) -> List[Dict[str, Any]]:
    """The mappings of a YAML text (``---`` separated); a clear error without PyYAML."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInput(
            f"{where} is YAML and PyYAML is not installed; pass the spec as a dict, or install PyYAML (`pip install pyyaml`, Debian: python3-yaml)"
        ) from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise InvalidInput(f"{where} is not valid YAML: {e}") from None
    for d in documents:
        if not isinstance(d, dict):
            raise InvalidInput(f"{where} must hold a mapping with kind: Job and the job's fields")
    if not documents:
        raise InvalidInput(f"{where} holds no documents; see docs/sdk.md for an example spec")
    return documents


def _read_spec(spec: JobSpec) -> "tuple[Dict[str, Any], str]":
    """The spec as a dict and the folder its relative paths resolve against."""
    if isinstance(spec, Mapping):
        return dict(spec), os.getcwd()
    text = os.fspath(spec)
    if "\n" not in text and os.path.isfile(text):
        with open(text, encoding="utf-8") as f:
            documents = load_yaml_documents(f.read(), text)
        folder = os.path.dirname(os.path.abspath(text))
    elif "\n" not in text and text.endswith((".yaml", ".yml", ".json")):
        raise NotFound(f"spec file '{text}' does not exist; check the path")
    else:
        documents = load_yaml_documents(text, "the spec text")
        folder = os.getcwd()
    if len(documents) != 1:
        raise InvalidInput(f"the spec holds {len(documents)} documents; submit one job at a time (loop over them)")
    return documents[0], folder


def resolve_job_spec(spec: JobSpec, team: Optional[str] = None) -> Dict[str, Any]:
    """A job spec as the server takes it: the Kubernetes shape flattened, ``kind``/``apiVersion``
    dropped, ``workingDir``/``checkpointDir``/dataset paths made absolute (as ``paved apply`` does)."""
    raw, folder = _read_spec(spec)
    kind = raw.pop("kind", "Job")
    raw.pop("apiVersion", None)
    if kind != "Job":
        raise InvalidInput(f"the spec is a {kind}; jobs.submit takes kind: Job (pipelines: paved.pipelines.apply)")
    metadata = raw.pop("metadata", None)
    nested = raw.pop("spec", None)
    fields: Dict[str, Any] = {**raw, **(nested if isinstance(nested, dict) else {})}
    if "name" not in fields and isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        fields["name"] = metadata["name"]
    command = fields.get("command")
    if isinstance(command, str) or not isinstance(command, (list, tuple)) or not command:
        raise InvalidInput("'command' must be a non-empty list of arguments, e.g. command=['python3', 'train.py', '--epochs', '5']")
    fields["command"] = [str(a) for a in command]
    working_dir = fields.get("workingDir", fields.pop("working_dir", None))
    fields["workingDir"] = os.path.abspath(os.path.join(folder, os.fspath(working_dir))) if working_dir else folder
    if isinstance(fields.get("checkpointDir"), str):
        fields["checkpointDir"] = os.path.abspath(os.path.join(folder, fields["checkpointDir"]))
    if isinstance(fields.get("datasets"), list):
        fields["datasets"] = [
            {**d, "path": os.path.abspath(os.path.join(folder, d["path"]))} if isinstance(d, dict) and isinstance(d.get("path"), str) else d for d in fields["datasets"]
        ]
    if team and not fields.get("team"):
        fields["team"] = team
    return fields


class Jobs:
    """``paved.jobs``: training and batch jobs."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    def submit(self, spec: JobSpec, *, team: Optional[str] = None) -> Resource:
        """Submits a job from a dict, a YAML file path or YAML text (``kind: Job``); answers it QUEUED.

        Relative ``workingDir`` resolves against the YAML file's folder (for a dict: the current
        directory), and defaults to it.

        >>> job = paved.jobs.submit({"name": "hello", "command": ["python3", "-c", "print('hi')"]})
        """
        return self._http.post("/api/v1/jobs", resolve_job_spec(spec, team or os.environ.get("PAVED_TEAM")))

    def check(self, spec: JobSpec, *, team: Optional[str] = None) -> Resource:
        """What submit would answer (the same refusal, or what it would be admitted as), without submitting."""
        return self._http.post("/api/v1/policy/check", resolve_job_spec(spec, team or os.environ.get("PAVED_TEAM")))

    def get(self, job_id: str) -> Resource:
        """A job: spec, phase, allocation, why it waits (``pending``), events, ``runId``."""
        return self._http.get(f"/api/v1/jobs/{seg(job_id)}")

    def list(self, *, phase: Optional[str] = None, limit: int = 100) -> Iterator[Resource]:
        """Your teams' jobs, newest first (the server answers one page of at most ``limit``, ≤ 1000)."""
        yield from self._http.get("/api/v1/jobs", phase=phase, limit=limit)["jobs"]

    def cancel(self, job_id: str) -> Resource:
        """Cancels a job: a queued one at once, a running one once its processes are stopped."""
        return self._http.post(f"/api/v1/jobs/{seg(job_id)}/cancel")

    def logs(self, job_id: str, *, attempt: Optional[int] = None, offset: Optional[int] = None) -> str:
        """One read of a job's log without following (at most the server's page, the end by default)."""
        return self._http.request("GET", f"/api/v1/jobs/{seg(job_id)}/logs", query={"attempt": attempt, "offset": offset}).text

    def stream_logs(self, job_id: str, *, follow: bool = True, attempt: Optional[int] = None, poll_seconds: float = 1.0) -> Iterator[str]:
        """Yields a job's log text as it is written. With ``follow`` it waits while the job is queued,
        streams each attempt until the job ends, then stops; without, it yields what is there."""
        if not follow:
            yield from self._stream(job_id, follow=False, attempt=attempt)
            return
        streamed = set()
        while True:
            job = self.get(job_id)
            phase = job["phase"]
            current = attempt or job.get("attempt") or 1
            if phase == "QUEUED" or phase == "STARTING":
                time.sleep(poll_seconds if phase == "QUEUED" else poll_seconds / 4)
                continue
            if current not in streamed and (phase == "RUNNING" or job.get("startedAt") is not None):
                streamed.add(current)
                live = phase not in TERMINAL_PHASES
                try:
                    yield from self._stream(job_id, follow=live, attempt=current)
                except NotFound:
                    # A log the executor has not created yet: ask again on the next turn.
                    if not live:
                        raise
                    streamed.discard(current)
                    time.sleep(poll_seconds / 2)
                if attempt is not None and attempt in streamed and self.get(job_id)["phase"] in TERMINAL_PHASES:
                    return
                continue
            if phase in TERMINAL_PHASES:
                return
            # The log ended before the phase changed; the controller catches up within a step.
            time.sleep(poll_seconds / 2)

    def _stream(self, job_id: str, *, follow: bool, attempt: Optional[int]) -> Iterator[str]:
        response = self._http.request("GET", f"/api/v1/jobs/{seg(job_id)}/logs", query={"follow": True if follow else None, "attempt": attempt}, stream=True, timeout=None if follow else self._http.timeout)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            for chunk in response.iter_content(chunk_size=None):
                text = decoder.decode(chunk)
                if text:
                    yield text
            rest = decoder.decode(b"", final=True)
            if rest:
                yield rest
        finally:
            response.close()

    def wait(
        self,
        job_id: str,
        *,
        timeout: Optional[float] = None,
        poll_seconds: float = 1.0,
        progress: Optional[Callable[[Resource], None]] = None,
        raise_on_failure: bool = False,
    ) -> Resource:
        """Polls a job until it ends (SUCCEEDED, FAILED or CANCELLED) and answers it.

        ``progress(job)`` is called with the job whenever its phase (or why it waits) changes.
        ``timeout`` (seconds) raises :class:`TimeoutError` with the job still going;
        ``raise_on_failure`` raises :class:`Conflict` when it did not succeed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            job = self.get(job_id)
            seen = (job["phase"], job.get("attempt"), (job.get("pending") or {}).get("reason"))
            if progress is not None and seen != last:
                progress(job)
            last = seen
            if job["phase"] in TERMINAL_PHASES:
                if raise_on_failure and job["phase"] != "SUCCEEDED":
                    raise Conflict(f"job {job_id} ended {job['phase']}: {job.get('message') or 'no reason recorded'}; see paved.jobs.logs('{job_id}')", details=dict(job))
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job['phase']} after {timeout:g} s; wait again, or cancel it with paved.jobs.cancel('{job_id}')")
            time.sleep(poll_seconds)
