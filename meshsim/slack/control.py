"""The `/_sim/...` control API: act as a person, look at the channel, configure the app side.

This is a contract that later tests use; the routes and bodies are listed in
`meshsim.slack.__init__`. Errors are JSON `{"error": "..."}` with 400 (bad request) or 404.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from meshsim.slack.delivery import AppConfig
from meshsim.slack.homes import HomeTabs
from meshsim.slack.interactions import Interactions
from meshsim.slack.payloads import NotFound
from meshsim.slack.socketmode import SocketMode
from meshsim.slack.webapi import WebApi, request_origin
from meshsim.slack.workspace import JSON, Workspace, WorkspaceError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APP_FIELDS: dict[str, tuple[type, ...]] = {
    "request_url": (str, type(None)), "ack_timeout": (int, float), "retries": (int,),
    "signing_secret": (str,), "lose_acks": (int,),
}


class Control:
    def __init__(self, ws: Workspace, api: WebApi, acts: Interactions, socket: SocketMode,
                 config: AppConfig, homes: HomeTabs) -> None:
        self.ws, self.api, self.acts, self.socket, self.config = ws, api, acts, socket, config
        self.homes = homes

    def routes(self, app: web.Application) -> None:
        add = app.router
        add.add_post("/_sim/command", _guarded(self.command))
        add.add_post("/_sim/click", _guarded(self.click))
        add.add_get("/_sim/messages", _guarded(self.messages))
        add.add_post("/_sim/home", _guarded(self.open_home))
        add.add_get("/_sim/home", _guarded(self.home))
        add.add_get("/_sim/workspace", _guarded(self.workspace))
        add.add_get("/_sim/calls", _guarded(self.calls))
        add.add_get("/_sim/app", _guarded(self.app_config))
        add.add_post("/_sim/app", _guarded(self.configure))
        add.add_post("/_sim/usergroups/{group}/users", _guarded(self.group_users))
        add.add_post("/_sim/socket/refresh", _guarded(self.refresh))
        add.add_post("/_sim/socket/drop", _guarded(self.drop))

    async def command(self, request: web.Request) -> web.Response:
        body = await _body(request, "user", "channel", "command")
        result = await self.acts.command(request_origin(request), body["user"], body["channel"],
                                         body["command"], str(body.get("text", "")))
        return web.json_response(result)

    async def click(self, request: web.Request) -> web.Response:
        body = await _body(request, "user", "channel", "ts", "action_id")
        edit = body.get("edit")
        if edit is not None and not isinstance(edit, int):
            raise ValueError("edit must be an integer version number")
        result = await self.acts.click(request_origin(request), body["user"], body["channel"],
                                       body["ts"], body["action_id"], edit)
        return web.json_response(result)

    async def open_home(self, request: web.Request) -> web.Response:
        body = await _body(request, "user")
        return web.json_response(await self.homes.open(str(body["user"])))

    async def home(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if user not in self.ws.users:
            raise NotFound(f"no user {user!r}")
        return web.json_response({"user": user, "view": self.homes.view(user)})

    async def messages(self, request: web.Request) -> web.Response:
        channel = request.query.get("channel", "")
        if channel not in self.ws.channels:
            raise NotFound(f"no channel {channel!r}")
        return web.json_response(self.ws.snapshot(channel))

    async def workspace(self, _: web.Request) -> web.Response:
        return web.json_response(self.ws.describe())

    async def calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.api.calls(request.query.get("method")))

    async def app_config(self, _: web.Request) -> web.Response:
        return web.json_response(self._app_state())

    async def configure(self, request: web.Request) -> web.Response:
        apply_app_settings(self.config, self.socket, await _body(request))
        return web.json_response(self._app_state())

    def _app_state(self) -> JSON:
        return app_state(self.config, self.socket)

    async def group_users(self, request: web.Request) -> web.Response:
        body = await _body(request, "users")
        users = body["users"]
        if not isinstance(users, list):
            raise ValueError("users must be a list of user ids")
        try:
            group = self.ws.set_group_users(request.match_info["group"], [str(u) for u in users])
        except WorkspaceError as exc:
            raise NotFound(exc.code) from exc
        return web.json_response(group)

    async def refresh(self, _: web.Request) -> web.Response:
        return web.json_response({"disconnected": await self.socket.refresh()})

    async def drop(self, _: web.Request) -> web.Response:
        return web.json_response({"dropped": await self.socket.drop()})


def apply_app_settings(config: AppConfig, socket: SocketMode, settings: dict[str, Any]) -> None:
    """`POST /_sim/app` and `SlackSim.configure_app`: check every field, then set them."""
    for key, value in settings.items():
        if key not in APP_FIELDS or not isinstance(value, APP_FIELDS[key]):
            raise ValueError(f"unknown field or wrong type: {key}")
    for key, value in settings.items():
        if key == "lose_acks":
            socket.lose_acks = value
        else:
            setattr(config, key, value)


def app_state(config: AppConfig, socket: SocketMode) -> JSON:
    return {**config.to_json(), "lose_acks": socket.lose_acks, "acks_lost": socket.acks_lost,
            "socket_connections": sum(not ws.closed for ws in socket.connections)}


async def _body(request: web.Request, *required: str) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ValueError("the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    missing = [key for key in required if not body.get(key)]
    if missing:
        raise ValueError(f"missing: {', '.join(missing)}")
    return body


def _guarded(handler: Handler) -> Handler:
    """Answer NotFound with 404 and a bad request with 400, both as `{"error": ...}`."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NotFound as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return guarded
