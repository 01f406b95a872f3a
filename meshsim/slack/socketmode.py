"""Socket Mode: `apps.connections.open` hands out a WebSocket URL; envelopes go down it.

On connect Slack sends `hello`; each envelope (`slash_commands`, `interactive`) carries an
`envelope_id` that the app acks by sending it back (with an optional `payload`). Slack allows
at most 10 connections per app (`too_many_websockets`) and gives each envelope to one of them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from meshsim.slack import seed
from meshsim.slack.webapi import JSON, ApiCall, ApiError, WebApi

MAX_CONNECTIONS = 10


@dataclass(frozen=True)
class Ack:
    at: float  # time.monotonic() when it arrived
    payload: JSON | None


class SocketMode:
    def __init__(self) -> None:
        self.connections: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._pending: dict[str, asyncio.Future[Ack]] = {}
        self._next = 0
        self.lose_acks = 0  # the next N acks are ignored, as if lost on the way to Slack
        self.acks_lost = 0

    def register(self, api: WebApi, app: web.Application) -> None:
        api.register("apps.connections.open", self.open, token="app")
        app.router.add_get("/link/", self.link)

    def connected(self) -> bool:
        return any(not ws.closed for ws in self.connections)

    async def open(self, call: ApiCall) -> JSON:
        if len(self.connections) >= MAX_CONNECTIONS:
            raise ApiError("too_many_websockets")
        ticket = secrets.token_hex(16)
        self._tickets.add(ticket)
        origin = call.origin.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return {"url": f"{origin}/link/?ticket={ticket}&app_id={seed.APP_ID}"}

    async def link(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        try:
            await ws.send_str(json.dumps(self._hello()))
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._receive(frame.data)
        finally:
            self.connections.remove(ws)
        return ws

    def _hello(self) -> JSON:
        return {"type": "hello", "num_connections": len(self.connections),
                "debug_info": {"host": "meshsim-slack", "build_number": 1,
                               "approximate_connection_time": 3600},
                "connection_info": {"app_id": seed.APP_ID}}

    def _receive(self, text: str) -> None:
        try:
            message: Any = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        future = self._pending.get(str(message.get("envelope_id")))
        if future is None or future.done():
            return
        if self.lose_acks > 0:
            self.lose_acks -= 1
            self.acks_lost += 1
            return
        payload = message.get("payload")
        future.set_result(Ack(time.monotonic(), payload if isinstance(payload, dict) else None))

    async def send(self, envelope: JSON, timeout: float) -> tuple[float, Ack | None]:
        """Send to one live connection (round robin); (sent_at, the ack or None on timeout)."""
        live = [ws for ws in self.connections if not ws.closed]
        if not live:
            raise ConnectionError("no Socket Mode connection")
        ws = live[self._next % len(live)]
        self._next += 1
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending[envelope["envelope_id"]] = future
        sent_at = time.monotonic()
        try:
            await ws.send_str(json.dumps(envelope))
            return sent_at, await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return sent_at, None
        finally:
            self._pending.pop(envelope["envelope_id"], None)

    async def refresh(self) -> int:
        """Send `disconnect` (reason refresh_requested) to every connection, as Slack does."""
        live = [ws for ws in self.connections if not ws.closed]
        for ws in live:
            await ws.send_str(json.dumps({"type": "disconnect", "reason": "refresh_requested",
                                          "debug_info": {"host": "meshsim-slack"}}))
        return len(live)

    async def drop(self) -> int:
        """Close every connection at once (1001 going away), as when Slack's edge restarts."""
        live = [ws for ws in self.connections if not ws.closed]
        for ws in live:
            await ws.close(code=1001, message=b"going away")
        return len(live)
