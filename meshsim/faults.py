"""Fault injection shared by the three simulators.

A rule matches a request by HTTP verb and path pattern (fnmatch, e.g. `*/deployments/*`) and
then answers a status (optionally with Retry-After), adds latency, or drops the connection,
for the next `count` matching calls or a `fraction` of them. Every server mounts the same
aiohttp middleware and the same control endpoints (`POST/GET/DELETE /_sim/faults`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FaultRule:
    verb: str = "*"
    path: str = "*"
    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    drop: bool = False
    count: int | None = 1
    fraction: float = 1.0
    body: dict[str, Any] | None = None
    id: int = 0
    hits: int = field(default=0)

    def matches(self, verb: str, path: str) -> bool:
        verb_ok = self.verb == "*" or self.verb.upper() == verb.upper()
        return verb_ok and fnmatch.fnmatchcase(path, self.path)

    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count


class Faults:
    """The active rules of one simulator; thread-safe so tests can add rules from any thread."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def add(self, **spec: Any) -> FaultRule:
        rule = FaultRule(**spec)
        with self._lock:
            rule.id = next(self._ids)
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def take(self, verb: str, path: str) -> FaultRule | None:
        """The rule that fires for this call, if any; counts the hit."""
        with self._lock:
            for rule in self._rules:
                if rule.exhausted() or not rule.matches(verb, path):
                    continue
                if rule.fraction < 1.0 and self._random.random() >= rule.fraction:
                    continue
                rule.hits += 1
                return rule
        return None


def fault_middleware(faults: Faults, error_body: Callable[[int], bytes]) -> Any:
    """aiohttp middleware applying `faults`; `error_body(status)` renders the system's own error."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        rule = faults.take(request.method, request.path)
        if rule is None:
            return await handler(request)
        if rule.latency:
            await asyncio.sleep(rule.latency)
        if rule.drop:
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise ConnectionResetError("meshsim fault: connection dropped")
        if rule.status is None:
            return await handler(request)
        headers = {"Content-Type": "application/json"}
        if rule.retry_after is not None:
            delay = rule.retry_after
            headers["Retry-After"] = str(int(delay) if delay >= 1 else delay)
        body = error_body(rule.status) if rule.body is None else _json(rule.body)
        return web.Response(status=rule.status, body=body, headers=headers)

    return middleware


def add_fault_routes(app: web.Application, faults: Faults) -> None:
    """`POST /_sim/faults` (a FaultRule as JSON), `GET` lists them, `DELETE` clears them."""

    async def post(request: web.Request) -> web.Response:
        spec = await request.json()
        try:
            rule = faults.add(**spec)
        except TypeError as exc:
            return web.json_response({"error": f"bad fault rule: {exc}"}, status=400)
        return web.json_response(asdict(rule), status=201)

    async def get(_: web.Request) -> web.Response:
        return web.json_response(faults.rules())

    async def delete(_: web.Request) -> web.Response:
        faults.clear()
        return web.json_response({"cleared": True})

    app.router.add_post("/_sim/faults", post)
    app.router.add_get("/_sim/faults", get)
    app.router.add_delete("/_sim/faults", delete)


def _json(data: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(data)
