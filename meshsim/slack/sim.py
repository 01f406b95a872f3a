"""`SlackSim`: wires the workspace, Web API, deliveries, control API and page into one app.

The aiohttp app runs on the SimLoop thread; the accessors here are for other threads (tests,
the sandbox) and either read under the workspace lock or run a coroutine on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
from aiohttp import web

from meshsim.clock import SimClock
from meshsim.faults import Faults, add_fault_routes, fault_middleware
from meshsim.runtime import SimLoop
from meshsim.slack import page
from meshsim.slack.control import Control, app_state, apply_app_settings
from meshsim.slack.delivery import AppConfig, Delivery
from meshsim.slack.files import FileMethods
from meshsim.slack.homes import HomeTabs
from meshsim.slack.interactions import Interactions
from meshsim.slack.methods import ChatMethods
from meshsim.slack.responses import ResponseUrls
from meshsim.slack.socketmode import SocketMode
from meshsim.slack.webapi import WebApi
from meshsim.slack.workspace import JSON, Workspace

T = TypeVar("T")


def error_body(status: int) -> bytes:
    """What Slack answers with a fault's status: `ratelimited` for 429, else a server error."""
    code = "ratelimited" if status == 429 else "fatal_error" if status >= 500 else "invalid_request"
    return orjson.dumps({"ok": False, "error": code})


class SlackSim:
    def __init__(self, clock: SimClock, faults: Faults | None = None) -> None:
        self.clock = clock
        self.faults = faults or Faults()
        self.ws = Workspace(clock)
        self.config = AppConfig()
        self.socket = SocketMode()
        self.api = WebApi(clock)
        self.chat = ChatMethods(self.ws)
        self.files = FileMethods(self.ws, self.chat)
        self.responses = ResponseUrls(self.ws)
        delivery = Delivery(clock, self.socket, self.config)
        self.interactions = Interactions(self.ws, self.responses, delivery)
        self.homes = HomeTabs(self.ws, delivery)
        self.control = Control(self.ws, self.api, self.interactions, self.socket, self.config,
                               self.homes)
        self.base_url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[fault_middleware(self.faults, error_body)],
                              client_max_size=64 * 1024 * 1024)
        add_fault_routes(app, self.faults)
        self.api.routes(app)
        self.chat.register(self.api)
        self.homes.register(self.api)
        self.files.register(self.api, app)
        self.socket.register(self.api, app)
        self.responses.routes(app)
        self.control.routes(app)
        page.routes(app)
        app.on_startup.append(self._remember_loop)
        return app

    async def _remember_loop(self, _: web.Application) -> None:
        self._loop = asyncio.get_running_loop()

    def serve(self, simloop: SimLoop, port: int = 0) -> int:
        """Host the app on `simloop`, remember its URL, return the port."""
        bound = simloop.serve(self.app(), port)
        self.set_base_url(f"http://127.0.0.1:{bound}")
        return bound

    def set_base_url(self, url: str) -> None:
        self.base_url = url.rstrip("/")

    @property
    def api_url(self) -> str:
        """What to give `WebClient(base_url=...)`."""
        return f"{self._base()}/api/"

    def _base(self) -> str:
        if self.base_url is None:
            raise RuntimeError("serve() or set_base_url() first")
        return self.base_url

    def messages(self, channel: str) -> JSON:
        return self.ws.snapshot(channel)

    def workspace(self) -> JSON:
        return self.ws.describe()

    def calls(self, method: str | None = None) -> list[JSON]:
        return self.api.calls(method)

    def set_group_users(self, group: str, users: list[str]) -> JSON:
        return self.ws.set_group_users(group, users)

    def configure_app(self, **settings: Any) -> JSON:
        """Same fields as `POST /_sim/app`: request_url, ack_timeout, retries, lose_acks, ..."""
        apply_app_settings(self.config, self.socket, settings)
        return app_state(self.config, self.socket)

    def command(self, user: str, channel: str, command: str, text: str = "") -> JSON:
        """Type `command text` as `user`; blocks until acked or given up (never on the loop)."""
        return self._on_loop(self.interactions.command(self._base(), user, channel, command, text))

    def click(self, user: str, channel: str, ts: str, action_id: str,
              edit: int | None = None) -> JSON:
        """Click `action_id` as `user`, on the message as it is now or as version `edit`."""
        return self._on_loop(self.interactions.click(self._base(), user, channel, ts, action_id,
                                                     edit))

    def open_home(self, user: str) -> JSON:
        """`user` opens the app's Home tab (app_home_opened); blocks until acked or given up."""
        return self._on_loop(self.homes.open(user))

    def home(self, user: str) -> JSON | None:
        """The Home tab view published for `user`, or None."""
        return self.homes.view(user)

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the app is not running yet")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=120)
