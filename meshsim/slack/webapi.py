"""The Web API transport: `/api/<method>` as slack_sdk calls it, and the record of every call.

Bodies come form-encoded, as JSON (chat.postMessage, chat.update) or multipart; the token comes
as `Authorization: Bearer` or a `token` field. Slack answers HTTP 200 with `ok: false` for
method errors, so only faults (429, 5xx) change the status. Methods register themselves here.
Like Slack, every answer to a known token names its scopes in the `x-oauth-scopes` header;
`scopes` can be changed to play an app installed with fewer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from meshsim.clock import SimClock
from meshsim.slack import seed

JSON = dict[str, Any]


class ApiError(Exception):
    """An `ok: false` answer: `error` is Slack's code, `extra` any more fields (`errors`)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: JSON
    token: str
    origin: str  # where this simulator is reachable, for URLs it hands out

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.params.get(key, default)
        return None if value is None else str(value)

    def need(self, key: str) -> str:
        value = self.get(key)
        if not value:
            raise ApiError("invalid_arguments", detail=f"missing required field: {key}")
        return value

    def flag(self, key: str) -> bool:
        return str(self.params.get(key, "")).lower() in ("1", "true")

    def json_field(self, key: str, bad: str) -> Any:
        """A field that is JSON: a string in form bodies, a value already in JSON bodies."""
        value = self.params.get(key)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise ApiError(bad) from exc
        return value


Method = Callable[[ApiCall], Awaitable[JSON]]


class WebApi:
    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._methods: dict[str, tuple[Method, str]] = {}
        self._calls: list[JSON] = []
        self._lock = threading.Lock()
        self.scopes: dict[str, tuple[str, ...]] = {seed.BOT_TOKEN: seed.BOT_SCOPES,
                                                   seed.APP_TOKEN: seed.APP_SCOPES}

    def register(self, name: str, method: Method, token: str = "bot") -> None:
        """`token` is the kind the method accepts: "bot", "app" or "any"."""
        self._methods[name] = (method, token)

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self.handle)

    def calls(self, method: str | None = None) -> list[JSON]:
        with self._lock:
            return [dict(c) for c in self._calls if method is None or c["method"] == method]

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        params = await _params(request)
        token = _token(request, params)
        params.pop("token", None)
        record: JSON = {"method": name, "params": params, "at": self.clock.now()}
        try:
            body = await self._dispatch(ApiCall(name, params, token, request_origin(request)))
            body = {"ok": True, **body}
        except ApiError as exc:
            body = {"ok": False, "error": exc.code, **exc.extra}
        record.update(ok=body["ok"], error=body.get("error"))
        with self._lock:
            self._calls.append(record)
        granted = self.scopes.get(token)
        headers = {"x-oauth-scopes": ",".join(granted)} if granted is not None else None
        return web.json_response(body, headers=headers)

    async def _dispatch(self, call: ApiCall) -> JSON:
        if call.method not in self._methods:
            raise ApiError("unknown_method")
        method, kind = self._methods[call.method]
        _authorize(call.token, kind)
        return await method(call)


def request_origin(request: web.Request) -> str:
    """Where the caller reached us: the base of URLs handed back (upload, WebSocket, hooks)."""
    return f"{request.scheme}://{request.host}"


def _authorize(token: str, kind: str) -> None:
    if not token:
        raise ApiError("not_authed")
    known = {seed.BOT_TOKEN: "bot", seed.APP_TOKEN: "app"}
    if token not in known:
        raise ApiError("invalid_auth")
    if kind != "any" and known[token] != kind:
        raise ApiError("not_allowed_token_type")


def _token(request: web.Request, params: JSON) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return str(params.get("token") or "")


async def _params(request: web.Request) -> JSON:
    params: JSON = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params
