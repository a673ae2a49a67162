"""Paved's Python SDK.

::

    import paved                                   # PAVED_URL/PAVED_TOKEN, or `paved login`'s file
    job = paved.jobs.submit("job.yaml")
    paved.jobs.wait(job.id, progress=print)
    df = paved.runs.search("metrics.accuracy > 0.9", experiments="mnist").to_pandas()

``paved.jobs``, ``paved.runs``, … are the API groups of the default client, made on first use
from the environment, or by :func:`login`. Make more with :class:`Client`.
"""
import threading
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, Union

from ._client import Client
from ._http import Resource, credentials_path
from ._predict import Predictor, Tensor
from .errors import (
    AlreadyExists,
    ConfigError,
    Conflict,
    Forbidden,
    GateFailed,
    InternalError,
    InvalidInput,
    NotFound,
    PavedError,
    PayloadTooLarge,
    QuotaExceeded,
    Unauthenticated,
    Unavailable,
    Unsupported,
)

if TYPE_CHECKING:
    from ._datasets import Datasets, Pipelines
    from ._jobs import Jobs
    from ._models import Deployments, Evaluations, Models
    from ._runs import Experiments, Runs

    jobs: Jobs
    runs: Runs
    experiments: Experiments
    models: Models
    evaluations: Evaluations
    deployments: Deployments
    datasets: Datasets
    pipelines: Pipelines

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Predictor",
    "Resource",
    "login",
    "client",
    "whoami",
    "predict",
    "predictor",
    "credentials_path",
    "PavedError",
    "InvalidInput",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Unauthenticated",
    "Forbidden",
    "QuotaExceeded",
    "PayloadTooLarge",
    "Unsupported",
    "GateFailed",
    "ConfigError",
    "Unavailable",
    "InternalError",
]

_GROUPS = ("jobs", "runs", "experiments", "models", "evaluations", "deployments", "datasets", "pipelines")
_lock = threading.Lock()
_default: Optional[Client] = None


def client() -> Client:
    """The default client: the one :func:`login` made, else one from the environment."""
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def login(url: Optional[str] = None, token: Optional[str] = None, *, save: bool = False, timeout: float = 60.0) -> Client:
    """Makes the default client for ``url`` and ``token`` (each defaulting as :class:`Client` does),
    checks the token (:class:`Unauthenticated` when it is wrong) and answers the client. ``save=True``
    also writes them where ``paved login`` does."""
    global _default
    made = Client(url, token, timeout=timeout)
    made.whoami()
    if save:
        made.save_credentials()
    with _lock:
        _default = made
    return made


def whoami() -> Resource:
    """Who the default client's token is: name, teams and roles."""
    return client().whoami()


def predictor(model: str, *, version: Optional[Union[str, int]] = None, environment: Optional[str] = None) -> Predictor:
    """An Open Inference Protocol v2 client for one model; see :class:`Predictor`."""
    return client().predictor(model, version=version, environment=environment)


def predict(model: str, inputs: Union[Tensor, Mapping[str, Tensor]], *, version: Optional[Union[str, int]] = None, environment: Optional[str] = None, **kwargs: Any) -> Dict[str, Tensor]:
    """One prediction over OIP v2: numpy arrays in, {output name: numpy array} out."""
    return client().predict(model, inputs, version=version, environment=environment, **kwargs)


def __getattr__(name: str) -> Any:
    if name in _GROUPS:
        return getattr(client(), name)
    raise AttributeError(f"module 'paved' has no attribute '{name}'")
