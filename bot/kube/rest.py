"""Plumbing shared by the Kubernetes adapter modules: error translation, counting, raw pages.

Every call to the API server goes through `KubeIO.call`, which counts it (the bench and the
workflow report API requests per restarted workload) and turns `ApiException`s and socket
errors into `RetryLater` / `GiveUp` that name the verb and resource. Large lists are read as
raw JSON (`_preload_content=False` + orjson) instead of building the client's model objects.
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from bot.upgrade.errors import (
    Cause,
    GiveUp,
    MeshUpgradeError,
    RetryLater,
    error_cause,
    error_for_status,
    retry_after_seconds,
)

T = TypeVar("T")
Obj = dict[str, Any]
PAGE_SIZE = 500  # what kubectl asks for, and the API server's recommended chunk
_HEAD = 4096
_CONTINUE = re.compile(rb'"continue"\s*:\s*"((?:[^"\\]|\\.)*)"')


class KubeIO:
    """One API client plus a thread-safe request counter."""

    def __init__(self, api_client: ApiClient,
                 on_error: Callable[[Cause], None] | None = None) -> None:
        self.api_client = api_client
        self._on_error = on_error or _nothing  # counts failed calls (the bot's /metrics)
        self._lock = threading.Lock()
        self._requests = 0

    @property
    def requests(self) -> int:
        return self._requests

    def count(self, n: int = 1) -> None:
        with self._lock:
            self._requests += n

    def call(self, verb: str, resource: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """`fn(*args, **kw)`, counted, with errors translated for `verb resource`."""
        self.count()
        try:
            return fn(*args, **kw)
        except ApiException as exc:
            self._on_error(error_cause(exc.status))
            raise translate(exc, verb, resource) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._on_error(Cause.NETWORK)
            raise RetryLater(f"Kubernetes API server unreachable ({verb} {resource}): {exc}",
                             15.0) from exc

    def raw(self, verb: str, resource: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Obj:
        """Like `call`, but reads the body as JSON without building model objects."""
        response = self.call(verb, resource, fn, *args, _preload_content=False, **kw)
        try:
            data: Obj = orjson.loads(response.data)
        finally:
            response.release_conn()
        return data

    def pages(self, resource: str, fn: Callable[..., Any], *args: Any, **kw: Any
              ) -> Iterator[list[Obj]]:
        """Items of a list call, one page (`limit=500` + `continue`) at a time, as raw dicts.

        The next page is fetched on a helper thread while the caller works on this one: its
        continue token is read off the head of the raw page (the server writes `metadata`
        before `items`), so the server builds page N+1 while page N is parsed and counted.
        """
        def fetch(token: str | None) -> bytes:
            extra = {"_continue": token} if token else {}
            response = self.call("list", resource, fn, *args, _preload_content=False,
                                 limit=PAGE_SIZE, **extra, **kw)
            try:
                data: bytes = response.data
            finally:
                response.release_conn()
            return data

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kube-pages") as pool:
            data: bytes | None = fetch(None)
            while data is not None:
                guess = _head_token(data)
                ahead = pool.submit(fetch, guess) if guess else None
                with paused_gc():
                    page = orjson.loads(data)
                token = (page.get("metadata") or {}).get("continue") or None
                if token != guess:  # the head did not say; fall back to the parsed token
                    ahead = pool.submit(fetch, token) if token else None
                yield page.get("items") or []
                del page
                data = ahead.result() if ahead else None

    def to_dict(self, model: Any) -> Obj:
        """A client model object as the JSON dict the server sent (camelCase keys)."""
        data: Obj = self.api_client.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
        return data


def _nothing(_cause: Cause) -> None:
    pass


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic garbage collector while a page is parsed.

    A 500-pod page is ~100,000 dicts and lists; each 700 allocations trigger a collection,
    and the older generations scan every live object (the client's models included), which
    costs more than the parse itself. JSON makes no reference cycles, so nothing is missed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _head_token(data: bytes) -> str | None:
    """The list's `metadata.continue`, if it appears before `items` in the raw JSON."""
    head = data[:_HEAD]
    items = head.find(b'"items"')
    match = _CONTINUE.search(head, 0, items if items >= 0 else len(head))
    if match is None:
        return None
    token: str = orjson.loads(b'"' + match.group(1) + b'"')
    return token or None


def translate(exc: ApiException, verb: str, resource: str) -> MeshUpgradeError:
    """409 → retry, 429/5xx → RetryLater, 403 → GiveUp naming the permission, 404 → GiveUp."""
    status = int(exc.status or 0)
    detail = _server_message(exc)
    what = f"{verb} {resource}"
    if status == 403:
        return GiveUp(f"Forbidden: the bot may not {what}: {detail}",
                      f"Grant the bot's service account the RBAC verb '{verb}' on '{resource}'.")
    if status == 404:
        return GiveUp(f"Not found: {what}: {detail}",
                      "Check that the object exists and the names in the configuration.")
    if status == 409:
        return RetryLater(f"Conflict on {what}: {detail}", 2.0,
                          "Someone changed it meanwhile; the bot reads it again and retries.")
    if status == 0:
        return RetryLater(f"Kubernetes API call failed ({what}): {exc.reason}", 15.0)
    return error_for_status(status, f"{what} failed ({status}): {detail}",
                            retry_after=_retry_after(exc))


def status_of(exc: BaseException) -> int:
    """The HTTP status behind a translated error (0 if none)."""
    cause = exc.__cause__
    return int(cause.status or 0) if isinstance(cause, ApiException) else 0


def _server_message(exc: ApiException) -> str:
    body = exc.body
    if body:
        try:
            message = orjson.loads(body).get("message")
            if message:
                return str(message)
        except (orjson.JSONDecodeError, AttributeError):
            return str(body)[:300]
    return str(exc.reason or "")


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    return retry_after_seconds(headers.get("Retry-After") if hasattr(headers, "get") else None)
