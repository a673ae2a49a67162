"""The HTTP layer: one requests.Session, the token, error mapping, resources and pages."""
import json
import os
import re
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar
from urllib.parse import quote

import requests

from .errors import ConfigError, InvalidInput, Unavailable, error_from

DEFAULT_URL = "http://127.0.0.1:8080"
USER_AGENT = "paved-python/0.1.0"

T = TypeVar("T")


def _snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Resource(Dict[str, Any]):
    """A JSON object from the server: a dict (the server's own camelCase keys) that also answers
    attributes, in the server's spelling or in snake_case: ``job.runId == job.run_id == job["runId"]``."""

    def __getattr__(self, name: str) -> Any:
        for key in (name, _snake_to_camel(name)):
            if key in self:
                return wrap(self[key])
        raise AttributeError(f"{type(self).__name__} has no field '{name}'; its fields: {', '.join(sorted(self))}")

    def __dir__(self) -> List[str]:
        return list(self.keys()) + list(super().__dir__())


def wrap(value: Any) -> Any:
    """Dicts in a JSON value become Resources (attribute access), recursively through lists."""
    if isinstance(value, Resource):
        return value
    if isinstance(value, dict):
        return Resource({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def seg(value: Any) -> str:
    """One URL path segment, escaped."""
    return quote(str(value), safe="")


def credentials_path(env: Optional[Mapping[str, str]] = None) -> str:
    """Where ``paved login`` keeps the URL and token: ``$XDG_CONFIG_HOME/paved/credentials.json``,
    else ``~/.config/paved/credentials.json`` (the CLI's src/client/credentials.ts)."""
    env = os.environ if env is None else env
    config_home = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return os.path.join(config_home, "paved", "credentials.json")


def normalise_url(url: str) -> str:
    if not re.match(r"^https?://[^/\s]+", url):
        raise InvalidInput(f"'{url}' is not an http:// or https:// URL; give one like {DEFAULT_URL}")
    return url.rstrip("/")


def read_credentials(env: Optional[Mapping[str, str]] = None) -> Optional[Dict[str, str]]:
    """The credentials file ``paved login`` wrote, or None when there is none."""
    path = credentials_path(env)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}; fix its permissions or run `paved login` again") from None
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; delete it and run `paved login` again") from None
    if not isinstance(value, dict) or not isinstance(value.get("url"), str) or not isinstance(value.get("token"), str):
        raise ConfigError(f"{path} lacks 'url' and 'token'; delete it and run `paved login` again")
    return {"url": value["url"], "token": value["token"]}


def resolve_credentials(url: Optional[str] = None, token: Optional[str] = None, env: Optional[Mapping[str, str]] = None) -> Tuple[str, Optional[str]]:
    """URL and token as the CLI resolves them: explicit values, then PAVED_URL/PAVED_TOKEN, then the
    credentials file (whose token is only sent to the URL it was stored for)."""
    env = os.environ if env is None else env
    stored = read_credentials(env)
    resolved = normalise_url(url or env.get("PAVED_URL") or (stored or {}).get("url") or DEFAULT_URL)
    if token:
        return resolved, token
    if env.get("PAVED_TOKEN"):
        return resolved, env["PAVED_TOKEN"]
    if stored and normalise_url(stored["url"]) == resolved:
        return resolved, stored["token"]
    return resolved, None


class Transport:
    """Sends requests to one Paved server with one token; every failure is a PavedError."""

    def __init__(self, url: str, token: Optional[str], timeout: float = 60.0, session: Optional[requests.Session] = None) -> None:
        self.url = normalise_url(url)
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["user-agent"] = USER_AGENT
        if token:
            self.session.headers["authorization"] = f"Bearer {token}"

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Optional[Mapping[str, Any]] = None,
        body: Any = None,
        data: Any = None,
        content_type: Optional[str] = None,
        stream: bool = False,
        timeout: Optional[float] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None and v != ""}
        sent_headers: Dict[str, str] = {"accept": "application/json, text/plain, */*"}
        if body is not None:
            data = json.dumps(body)
            sent_headers["content-type"] = "application/json"
        elif data is not None:
            sent_headers["content-type"] = content_type or "application/octet-stream"
        sent_headers.update(headers or {})
        try:
            response = self.session.request(method, self.url + path, params=params, data=data, headers=sent_headers, stream=stream, timeout=timeout or self.timeout)
        except requests.ConnectionError as e:
            raise Unavailable(f"cannot reach Paved at {self.url}; start it with `paved up` or set PAVED_URL", details={"url": self.url, "cause": str(e)}) from None
        except requests.Timeout:
            raise Unavailable(f"Paved at {self.url} did not answer {method} {path} within {timeout or self.timeout:g} s; try again, or pass a longer timeout", details={"url": self.url}) from None
        if response.status_code >= 400:
            raise error_from(response.status_code, _body_of(response), path)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        if not response.content:
            return Resource()
        try:
            return wrap(response.json())
        except ValueError:
            raise Unavailable(f"{self.url} answered {path} with something that is not JSON; check that PAVED_URL points at a Paved server") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.json("GET", path, query=query)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.json("POST", path, body={} if body is None else body, **kwargs)


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _body_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def pages(fetch: Callable[[Optional[str]], Tuple[List[T], Optional[str]]]) -> Iterator[List[T]]:
    """Pages from ``fetch(page_token) -> (items, next_page_token)`` until the server gives no token."""
    token: Optional[str] = None
    while True:
        items, following = fetch(token)
        yield items
        # A server that hands back the token it was given would loop forever.
        if not following or following == token:
            return
        token = following


def items(fetch: Callable[[Optional[str]], Tuple[List[T], Optional[str]]], limit: Optional[int] = None) -> Iterator[T]:
    """The items of every page, in order, at most ``limit`` of them."""
    count = 0
    for page in pages(fetch):
        for item in page:
            if limit is not None and count >= limit:
                return
            count += 1
            yield item

