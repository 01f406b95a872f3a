"""The query endpoint of an Azure Monitor workspace (managed service for Prometheus), in front
of a real Prometheus.

A workspace answers Prometheus' HTTP API (`/api/v1/query`, `query_range`, `series`, `labels`,
`label/{name}/values`; GET and POST) at `https://<workspace>-<hash>.<region>.prometheus.monitor
.azure.com`, to Entra ID bearer tokens for the resource `https://prometheus.monitor.azure.com`
(clients ask for `https://prometheus.monitor.azure.com/.default`). Here the tenant's tokens are
checked (signature, expiry, audience) and the request is passed to the upstream Prometheus
unchanged; a missing, invalid, expired or wrong-audience token gets a JSON 401 with a Bearer
challenge; any other path 404.
"""

from __future__ import annotations

import ssl
import time

import aiohttp
from aiohttp import web

from meshsim.entra.tenant import MONITOR_RESOURCE, Tenant
from meshsim.entra.tokens import Rejected, Why
from meshsim.runtime import SimLoop

API = ("/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels")
LABEL_VALUES = "/api/v1/label/{name}/values"
AUDIENCES = frozenset({MONITOR_RESOURCE, MONITOR_RESOURCE + "/"})
PASSED_HEADERS = ("Content-Type",)


class Refused(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


def check(header: str | None, tenant: Tenant) -> None:
    """Pass a valid token of `tenant` for Azure Monitor's Prometheus resource; Refused else."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused("invalid_request", "No bearer token in the Authorization header.")
    try:
        claims = tenant.verify(token.strip(), time.time())
    except Rejected as exc:
        if exc.why is Why.EXPIRED:
            raise Refused("invalid_token", "The access token has expired.") from None
        raise Refused("invalid_token", "The access token is invalid.") from None
    if claims.get("aud") not in AUDIENCES:
        raise Refused("invalid_token", f"The access token audience '{claims.get('aud')}' is "
                                       f"not valid; expected '{MONITOR_RESOURCE}'.")


class AzureMonitorFront:
    def __init__(self, tenant: Tenant, upstream_url: str) -> None:
        self.tenant, self.upstream = tenant, upstream_url.rstrip("/")
        self.url: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self.served = self.refused = 0  # queries passed on, and refused for their token

    def serve(self, loop: SimLoop, ssl_context: ssl.SSLContext, port: int = 0) -> str:
        app = web.Application()
        for path in (*API, LABEL_VALUES):
            app.router.add_route("GET", path, self._proxy)
            app.router.add_route("POST", path, self._proxy)
        app.on_cleanup.append(self._close)
        self.url = f"https://127.0.0.1:{loop.serve(app, port, ssl_context=ssl_context)}"
        return self.url

    async def _proxy(self, request: web.Request) -> web.Response:
        try:
            check(request.headers.get("Authorization"), self.tenant)
        except Refused as exc:
            self.refused += 1
            return _unauthorized(exc)
        self.served += 1
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        headers = {k: request.headers[k] for k in PASSED_HEADERS if k in request.headers}
        target = self.upstream + str(request.rel_url)  # path and query as sent, still encoded
        async with self._session.request(request.method, target, data=await request.read(),
                                         headers=headers) as upstream:
            body = await upstream.read()
            return web.Response(status=upstream.status, body=body,
                                content_type=upstream.content_type)

    async def _close(self, _: web.Application) -> None:
        if self._session is not None:
            await self._session.close()


def _unauthorized(exc: Refused) -> web.Response:
    challenge = (f'Bearer realm="", authorization_uri="https://login.microsoftonline.com/", '
                 f'resource_id="{MONITOR_RESOURCE}", error="{exc.error}", '
                 f'error_description="{exc.description}"')
    return web.json_response({"error": {"code": "Unauthorized", "message": exc.description}},
                             status=401, headers={"WWW-Authenticate": challenge})
