"""The channel page: `/` serves a small HTML + vanilla JS client of the control API.

It renders Block Kit, threads and the chosen user's ephemerals, polls `/_sim/messages`,
and lets a person type slash commands and click buttons as any seeded user.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"


def routes(app: web.Application) -> None:
    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
