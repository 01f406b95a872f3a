"""What an API request is about, in RBAC terms, and the record of every request served.

`parse` mirrors the API server's RequestInfoFactory: the path and method give the k8s verb
(get, list, watch, create, update, patch, delete, deletecollection), group, resource,
subresource, namespace and name. The same attributes feed the authorizer hook, the request
log and the handlers' routing, so what the log says was called is what was served.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

VERBS_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class RequestAttributes:
    verb: str
    api_group: str = ""
    api_version: str = ""
    resource: str = ""  # "" for non-resource URLs (discovery, /version, /openapi/v3)
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


Authorizer = Callable[[RequestAttributes], bool]


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes:
    """The request's attributes; discovery and other URLs come back with `resource == ""`."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestAttributes(verb=method.lower(), path=path)
    watch_path = bool(rest) and rest[0] == "watch"  # legacy /api/v1/watch/... paths
    rest = rest[1:] if watch_path else rest
    namespace, rest = _namespace(rest)
    if not rest:
        return RequestAttributes(method.lower(), group, version, path=path)
    resource, name, sub = rest[0], _at(rest, 1), "/".join(rest[2:])
    verb = _verb(method, bool(name), watch_path or _flag(query.get("watch")))
    return RequestAttributes(verb, group, version, resource, sub, namespace, name, path)


def _namespace(rest: list[str]) -> tuple[str, list[str]]:
    # namespaces/NS/status is the namespace's own subresource, not a resource named "status".
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        return rest[1], rest[2:]
    return "", rest


def _verb(method: str, named: bool, watch: bool) -> str:
    if method in VERBS_BY_METHOD:
        return VERBS_BY_METHOD[method]
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    if watch:
        return "watch"
    return "get" if named else "list"


def _at(items: list[str], index: int) -> str:
    return items[index] if len(items) > index else ""


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@dataclass(frozen=True)
class RequestRecord:
    """One served request: the attributes above plus who asked and what was answered."""

    verb: str
    api_group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    user_agent: str
    code: int  # HTTP status; 0 when the connection was dropped before an answer
    path: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Every API request served, in order; thread-safe, so tests may read it from any thread."""

    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def record(self, attrs: RequestAttributes, user_agent: str, code: int) -> None:
        entry = RequestRecord(attrs.verb, attrs.api_group, attrs.resource, attrs.subresource,
                              attrs.namespace, attrs.name, user_agent, code, attrs.path)
        with self._lock:
            self._records.append(entry)

    def records(self, **match: str | int) -> list[RequestRecord]:
        """The records whose fields equal every given value, e.g. `records(verb="patch")`."""
        with self._lock:
            entries = list(self._records)
        return [r for r in entries if all(getattr(r, k, None) == v for k, v in match.items())]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
