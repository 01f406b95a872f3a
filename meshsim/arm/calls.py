"""The record of every call made to the simulated ARM, so tests can count PUTs and polls.

The recorder is the outermost middleware: it also sees calls answered by fault rules, with
their status, and calls whose connection a fault dropped (status `None`). Control routes
(`/_sim/...`) are not recorded.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from meshsim.clock import SimClock
from meshsim.faults import Handler


@dataclass(frozen=True)
class ArmCall:
    method: str
    path: str  # as the client sent it, without the query string
    status: int | None  # None when the connection was dropped
    time: float  # simulated epoch seconds at arrival

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._calls: list[ArmCall] = []
        self._lock = threading.Lock()

    def calls(self, method: str | None = None, path_contains: str | None = None) -> list[ArmCall]:
        """Recorded calls, optionally only one verb or paths containing a fragment (any case)."""
        fragment = (path_contains or "").lower()
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method.upper()) and fragment in c.path.lower()
            ]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def middleware(self) -> Any:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.path.startswith("/_sim/"):
                return await handler(request)
            at = self.clock.now()
            status: int | None = None
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                with self._lock:
                    self._calls.append(ArmCall(request.method, request.path, status, at))

        return record
