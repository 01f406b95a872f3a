"""One asyncio loop in a background thread that hosts every simulator's aiohttp servers.

Tests and the sandbox start the simulators in-process with `SimLoop`; the CLI runs the same
loop in the foreground. Servers bind 127.0.0.1 on a free port unless told otherwise.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class SimLoop:
    """A running event loop on a daemon thread, with helpers to host aiohttp apps on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._thread = threading.Thread(target=self._run, name="meshsim-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the loop from another thread and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def serve(self, app: web.Application, port: int = 0,
              ssl_context: ssl.SSLContext | None = None) -> int:
        """Start `app` on 127.0.0.1 and return the bound port."""
        return self.call(self._serve(app, port, ssl_context))

    async def _serve(self, app: web.Application, port: int,
                     ssl_context: ssl.SSLContext | None) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context)
        await site.start()
        self._runners.append(runner)
        server = site._server
        assert server is not None and isinstance(server, asyncio.base_events.Server)
        bound: int = server.sockets[0].getsockname()[1]
        return bound

    def close(self) -> None:
        if not self.loop.is_running():
            return
        try:
            self.call(self._cleanup(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)

    async def _cleanup(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
