"""The Client: one server, one token, every API group."""
import json
import os
from typing import Any, Dict, Mapping, Optional, Union

from ._datasets import Datasets, Pipelines
from ._http import Resource, Transport, credentials_path, normalise_url, resolve_credentials
from ._jobs import Jobs
from ._models import Deployments, Evaluations, Models
from ._predict import Predictor, Tensor
from ._runs import Experiments, Runs


class Client:
    """A Paved server and a token. Without arguments, the URL and token come from ``PAVED_URL`` and
    ``PAVED_TOKEN``, else from the file ``paved login`` wrote (``~/.config/paved/credentials.json``).

    >>> client = paved.Client()                     # or paved.Client("http://paved:8080", "pvd_…")
    >>> client.whoami()["name"]
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *, timeout: float = 60.0, env: Optional[Mapping[str, str]] = None) -> None:
        resolved_url, resolved_token = resolve_credentials(url, token, env)
        self._http = Transport(resolved_url, resolved_token, timeout=timeout)
        self.jobs = Jobs(self._http)
        self.experiments = Experiments(self._http)
        self.runs = Runs(self._http, self.experiments)
        self.evaluations = Evaluations(self._http)
        self.models = Models(self._http, self.evaluations)
        self.deployments = Deployments(self._http)
        self.datasets = Datasets(self._http)
        self.pipelines = Pipelines(self._http)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def token(self) -> Optional[str]:
        return self._http.token

    def __repr__(self) -> str:
        return f"paved.Client(url={self.url!r})"

    def close(self) -> None:
        """Closes the HTTP connections (a client also works as a context manager)."""
        self._http.session.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self) -> Resource:
        """Liveness; needs no token."""
        return self._http.get("/api/v1/health")

    def whoami(self) -> Resource:
        """The principal the token resolves to: name, teams and roles."""
        return self._http.get("/api/v1/whoami")

    def predictor(self, model: str, *, version: Optional[Union[str, int]] = None, environment: Optional[str] = None) -> Predictor:
        """An Open Inference Protocol v2 client for one model (production unless ``environment``)."""
        return Predictor(self._http, model, version=version, environment=environment)

    def predict(self, model: str, inputs: Union[Tensor, Mapping[str, Tensor]], *, version: Optional[Union[str, int]] = None, environment: Optional[str] = None, **kwargs: Any) -> Dict[str, Tensor]:
        """One prediction: {output name: numpy array} (lists without numpy). See :class:`Predictor`."""
        return self.predictor(model, version=version, environment=environment).predict(inputs, **kwargs)

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """Any API call the SDK has no method for, e.g. ``client.request("GET", "/api/v1/quotas")``."""
        return self._http.json(method, path, query=query, body=body)

    def save_credentials(self) -> str:
        """Writes this URL and token where ``paved login`` does (0600), for the CLI and later sessions."""
        if not self.token:
            raise ValueError("this client has no token to save")
        path = credentials_path()
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps({"url": normalise_url(self.url), "token": self.token}, indent=2) + "\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        return path
