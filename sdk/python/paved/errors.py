"""One exception class per Paved error code (src/core/errors.ts ERROR_CODES).

Every error the server answers becomes a :class:`PavedError` subclass carrying the stable
``code``, the server's ``message`` (which ends with the fix), its structured ``details`` and the
HTTP ``status``. Catch the class for the code you handle::

    try:
        paved.models.set_alias("churn", "production", "7")
    except paved.GateFailed as e:
        for check in e.failed_checks:
            print(check["name"], check["hint"])
"""
from typing import Any, Dict, List, Mapping, Optional, Type

__all__ = [
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
    "error_from",
]


class PavedError(Exception):
    """Base class of every error the SDK raises for the server (or for reaching it)."""

    #: The code this class stands for (the base class: any code).
    CODE = ""

    def __init__(self, message: str, *, code: Optional[str] = None, details: Optional[Mapping[str, Any]] = None, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.code: str = code or self.CODE or "INTERNAL"
        self.message: str = message
        self.details: Dict[str, Any] = dict(details or {})
        self.status: Optional[int] = status

    @property
    def fix(self) -> Optional[str]:
        """How to fix it: ``details['fix']`` when the server gives one, else the part of the
        message after its last ``'; '`` (Paved's messages end with the fix)."""
        fix = self.details.get("fix")
        if isinstance(fix, str):
            return fix
        if "; " in self.message:
            return self.message.rsplit("; ", 1)[1]
        return None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class InvalidInput(PavedError):
    """INVALID_INPUT (HTTP 400): the request was wrong; the message names the field and the valid choices."""

    CODE = "INVALID_INPUT"


class NotFound(PavedError):
    """NOT_FOUND (HTTP 404): no such resource (or one of a team you are not in)."""

    CODE = "NOT_FOUND"


class AlreadyExists(PavedError):
    """ALREADY_EXISTS (HTTP 409)."""

    CODE = "ALREADY_EXISTS"


class Conflict(PavedError):
    """CONFLICT (HTTP 409): the resource is not in a state that allows this."""

    CODE = "CONFLICT"


class Unauthenticated(PavedError):
    """UNAUTHENTICATED (HTTP 401): no token, or a wrong or expired one."""

    CODE = "UNAUTHENTICATED"


class Forbidden(PavedError):
    """FORBIDDEN (HTTP 403): your role does not allow this."""

    CODE = "FORBIDDEN"


class QuotaExceeded(PavedError):
    """QUOTA_EXCEEDED (HTTP 429): a quota, budget or rate bound was reached."""

    CODE = "QUOTA_EXCEEDED"


class PayloadTooLarge(PavedError):
    """PAYLOAD_TOO_LARGE (HTTP 413)."""

    CODE = "PAYLOAD_TOO_LARGE"


class Unsupported(PavedError):
    """UNSUPPORTED: the backend cannot do this; the message says which can."""

    CODE = "UNSUPPORTED"


class GateFailed(PavedError):
    """GATE_FAILED (HTTP 412): an evaluation gate refused; ``failed_checks`` lists the checks that failed."""

    CODE = "GATE_FAILED"

    @property
    def failed_checks(self) -> List[Dict[str, Any]]:
        """The failed checks (``name``, ``hint``, …) the server named; empty when there was no evaluation."""
        checks = self.details.get("failedChecks", self.details.get("checks", []))
        return [c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []

    @property
    def evaluation(self) -> Optional[str]:
        """The id of the evaluation that decided, when there is one."""
        value = self.details.get("evaluation")
        return value if isinstance(value, str) else None


class ConfigError(PavedError):
    """CONFIG: the server's (or the SDK's) configuration is wrong."""

    CODE = "CONFIG"


class Unavailable(PavedError):
    """UNAVAILABLE (HTTP 503): the server (or a backend behind it) cannot be reached now."""

    CODE = "UNAVAILABLE"


class InternalError(PavedError):
    """INTERNAL (HTTP 500): a bug; the server log has the details."""

    CODE = "INTERNAL"


ERRORS: Dict[str, Type[PavedError]] = {
    cls.CODE: cls
    for cls in (InvalidInput, NotFound, AlreadyExists, Conflict, Unauthenticated, Forbidden, QuotaExceeded, PayloadTooLarge, Unsupported, GateFailed, ConfigError, Unavailable, InternalError)
}

# Used when a body is not Paved's own shape (a proxy in between), as the TypeScript client does.
_STATUS_CODES = {400: "INVALID_INPUT", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND", 409: "CONFLICT", 412: "GATE_FAILED", 413: "PAYLOAD_TOO_LARGE", 429: "QUOTA_EXCEEDED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "UNAVAILABLE"}

# MLflow's error_code (the /api/2.0/mlflow routes answer in MLflow's shape) back to Paved's code.
_MLFLOW_CODES = {
    "INVALID_PARAMETER_VALUE": "INVALID_INPUT",
    "RESOURCE_DOES_NOT_EXIST": "NOT_FOUND",
    "RESOURCE_ALREADY_EXISTS": "ALREADY_EXISTS",
    "INVALID_STATE": "CONFLICT",
    "UNAUTHENTICATED": "UNAUTHENTICATED",
    "PERMISSION_DENIED": "FORBIDDEN",
    "RESOURCE_EXHAUSTED": "QUOTA_EXCEEDED",
    "FEATURE_DISABLED": "UNSUPPORTED",
    "TEMPORARILY_UNAVAILABLE": "UNAVAILABLE",
    "INTERNAL_ERROR": "INTERNAL",
}


def error_from(status: int, body: Any, where: str) -> PavedError:
    """The exception for an error answer: Paved's ``{error: {code, message, details}}``, MLflow's
    ``{error_code, message}``, or (neither) one chosen by the HTTP status."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str) and error["code"] in ERRORS:
            details = error.get("details") if isinstance(error.get("details"), dict) else None
            message = error.get("message") if isinstance(error.get("message"), str) else error["code"]
            return ERRORS[error["code"]](message, code=error["code"], details=details, status=status)
        mlflow_code = body.get("error_code")
        if isinstance(mlflow_code, str):
            code = _MLFLOW_CODES.get(mlflow_code) or _STATUS_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_INPUT")
            # One MLflow code stands for two of Paved's (INVALID_STATE: CONFLICT, GATE_FAILED); the status tells them apart.
            if status in (412, 413):
                code = _STATUS_CODES[status]
            message = body.get("message") if isinstance(body.get("message"), str) else mlflow_code
            return ERRORS[code](message, code=code, details={"mlflowErrorCode": mlflow_code}, status=status)
        if isinstance(error, str):
            # The Open Inference Protocol's shape: {"error": "<message>"}.
            code = _STATUS_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_INPUT")
            return ERRORS[code](error, code=code, details={}, status=status)
    code = _STATUS_CODES.get(status, "INTERNAL" if status >= 500 else "INVALID_INPUT")
    text = body if isinstance(body, str) else ""
    return ERRORS[code](f"server answered {where} with HTTP {status}{': ' + text[:200] if text else ''}", code=code, details={"status": status}, status=status)
