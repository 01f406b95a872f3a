"""meshsim's telemetry endpoint: one plain-HTTP server with each cluster's sidecar metrics at
`GET /clusters/{name}/metrics`, for a Prometheus scrape job per cluster (as Azure Monitor's
managed Prometheus scrapes each cluster and labels it with `cluster`). A scrape advances the
cluster's counters to now; rendering runs off the loop, so a scrape of a large cluster does not
stall the API servers sharing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiohttp import web

from meshsim.kube.cluster import KubeSim
from meshsim.runtime import SimLoop
from meshsim.traffic.exposition import CONTENT_TYPE, render
from meshsim.traffic.model import TrafficModel


class TelemetryServer:
    def __init__(self, clusters: Mapping[str, KubeSim]) -> None:
        self.models = {name: TrafficModel(kube.store, kube.clock, kube.proxy_faults)
                       for name, kube in clusters.items()}
        self.url: str | None = None

    def scrape(self, cluster: str) -> str:
        """The cluster's exposition now (also what tests read without HTTP)."""
        return render(self.models[cluster].update())

    def paths(self) -> dict[str, str]:
        return {name: f"/clusters/{name}/metrics" for name in self.models}

    def serve(self, loop: SimLoop, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/clusters/{name}/metrics", self._metrics)
        self.url = f"http://127.0.0.1:{loop.serve(app, port)}"
        return self.url

    async def _metrics(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.models:
            return web.json_response({"error": f"no cluster {name!r}; known: "
                                               f"{', '.join(self.models)}"}, status=404)
        text = await asyncio.get_running_loop().run_in_executor(None, self.scrape, name)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
