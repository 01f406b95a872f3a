"""ARM's HTTP surface for Microsoft.ContainerService, as azure-mgmt-containerservice calls it.

ARM matches paths case-insensitively and the SDK may send any api-version, so one catch-all
route dispatches on regular expressions instead of aiohttp's case-sensitive router. Every call
needs a bearer token the tenant signed for ARM (meshsim/arm/auth.py; 401 otherwise) and an
`api-version` query parameter. A cluster's `Microsoft.Authorization/permissions` is answered
from the tenant's role assignments (meshsim/arm/authorization.py).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from meshsim.arm import bodies, credentials, maintenance
from meshsim.arm.auth import check_token
from meshsim.arm.authorization import permissions_body, permissions_scope
from meshsim.arm.provider import ResourceProvider
from meshsim.arm.rp import JSON, RpError
from meshsim.entra.rbac import RoleAssignments
from meshsim.entra.tenant import Tenant

Match = dict[str, str]
Route = Callable[[ResourceProvider, web.Request, Match], Awaitable[web.Response]]

_CLUSTER = (
    r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
    r"/providers/microsoft\.containerservice/managedclusters/(?P<name>[^/]+)"
)
_MAINTENANCE = _CLUSTER + r"/maintenanceconfigurations/(?P<config>[^/]+)"
_LOCATION = (
    r"/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.containerservice/locations/(?P<loc>[^/]+)"
)


# What fault rules answer with, per status: ARM's own codes (aks-arm.md §3).
_FAULT_CODES = {
    429: ("TooManyRequests", "The request is being throttled. Please try again later."),
    500: ("InternalServerError", "An internal server error occurred. Please retry the request."),
    502: ("BadGateway", "The gateway did not receive a response from the resource provider."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("GatewayTimeout", "The gateway did not receive a response within the specified time."),
}


def fault_error_body(status: int) -> bytes:
    code, message = _FAULT_CODES.get(status, ("Error", f"Injected fault: HTTP {status}."))
    return json.dumps({"error": {"code": code, "message": message}}).encode()


def _json(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"x-ms-request-id": str(uuid.uuid4()), **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


async def get_cluster(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    c = rp.cluster(m["sub"], m["rg"], m["name"])
    return _json(rp.render(c))


async def put_cluster(rp: ResourceProvider, request: web.Request, m: Match) -> web.Response:
    c = rp.cluster(m["sub"], m["rg"], m["name"])
    body, op = rp.put(c, await _body(request), request.headers.get("If-Match"))
    # AKS answers a PUT with Azure-AsyncOperation only, absolute, and no Location (aks-arm.md §1).
    origin = f"{request.scheme}://{request.host}"
    return _json(body, 200, {"Azure-AsyncOperation": origin + op.status_path()})


async def list_upgrade_profiles(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    profile = rp.upgrade_profile(rp.cluster(m["sub"], m["rg"], m["name"]))
    return _json({"value": [] if profile is None else [profile]})


async def get_upgrade_profile(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    c = rp.cluster(m["sub"], m["rg"], m["name"])
    profile = rp.upgrade_profile(c) if m["mode"].lower() == "istio" else None
    if profile is None:
        raise RpError(404, "NotFound", f"Mesh upgrade profile '{m['mode']}' was not found.")
    return _json(profile)


async def list_revision_profiles(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    return _json({"value": [bodies.mesh_revision_profile(m["sub"], m["loc"], rp.catalogue)]})


async def get_revision_profile(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    if m["mode"].lower() != "istio":
        raise RpError(404, "NotFound", f"Mesh revision profile '{m['mode']}' was not found.")
    return _json(bodies.mesh_revision_profile(m["sub"], m["loc"], rp.catalogue))


async def list_user_credential(rp: ResourceProvider, request: web.Request, m: Match
                               ) -> web.Response:
    c = rp.cluster(m["sub"], m["rg"], m["name"])
    return _json(credentials.user_credentials(c, request.query.get("format")))


async def list_admin_credential(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    return _json(credentials.admin_credentials(rp.cluster(m["sub"], m["rg"], m["name"])))


async def list_maintenance(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    return _json(maintenance.listing(rp.cluster(m["sub"], m["rg"], m["name"])))


async def get_maintenance(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    return _json(maintenance.get(rp.cluster(m["sub"], m["rg"], m["name"]), m["config"]))


async def put_maintenance(rp: ResourceProvider, request: web.Request, m: Match) -> web.Response:
    c = rp.cluster(m["sub"], m["rg"], m["name"])
    body, created = maintenance.put(c, m["config"], await _body(request), rp.clock.now())
    return _json(body, 201 if created else 200)


async def delete_maintenance(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    deleted = maintenance.delete(rp.cluster(m["sub"], m["rg"], m["name"]), m["config"])
    return web.Response(status=200 if deleted else 204)


async def get_operation(rp: ResourceProvider, _: web.Request, m: Match) -> web.Response:
    op = rp.operations.get(m["op"])
    if op is None or op.subscription_id.lower() != m["sub"].lower():
        raise RpError(404, "NotFound", f"Operation {m['op']} was not found.")
    return _json(op.status_body(rp.clock))


ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    (verb, re.compile(f"^{pattern}/?$", re.IGNORECASE), route)
    for verb, pattern, route in [
        ("GET", _CLUSTER, get_cluster),
        ("PUT", _CLUSTER, put_cluster),
        ("GET", _CLUSTER + "/meshupgradeprofiles", list_upgrade_profiles),
        ("GET", _CLUSTER + r"/meshupgradeprofiles/(?P<mode>[^/]+)", get_upgrade_profile),
        ("POST", _CLUSTER + "/listclusterusercredential", list_user_credential),
        ("POST", _CLUSTER + "/listclusteradmincredential", list_admin_credential),
        ("GET", _CLUSTER + "/maintenanceconfigurations", list_maintenance),
        ("GET", _MAINTENANCE, get_maintenance),
        ("PUT", _MAINTENANCE, put_maintenance),
        ("DELETE", _MAINTENANCE, delete_maintenance),
        ("GET", _LOCATION + "/meshrevisionprofiles", list_revision_profiles),
        ("GET", _LOCATION + r"/meshrevisionprofiles/(?P<mode>[^/]+)", get_revision_profile),
        ("GET", _LOCATION + r"/operations/(?P<op>[^/]+)", get_operation),
    ]
]


def handler(rp: ResourceProvider, tenant: Tenant, assignments: RoleAssignments
            ) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The catch-all aiohttp handler: the tenant's token, api-version, route, and RpError ->
    ARM error."""

    async def dispatch(request: web.Request) -> web.Response:
        try:
            claims = check_token(request.headers.get("Authorization"), tenant)
            if not request.query.get("api-version"):
                raise RpError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            if scope := permissions_scope(request.method, request.path):
                return _json(permissions_body(assignments, claims, scope))
            route, match = _route(request.method, request.path)
            return await route(rp, request, match)
        except RpError as exc:
            return _json(exc.body(), exc.status, exc.headers)

    return dispatch


def _route(method: str, path: str) -> tuple[Route, Match]:
    known_path = False
    for verb, pattern, route in ROUTES:
        found = pattern.match(path)
        if found is None:
            continue
        if verb == method:
            return route, found.groupdict()
        known_path = True
    if known_path:
        raise RpError(
            405, "HttpMethodNotAllowed", f"The HTTP method '{method}' is not supported at '{path}'."
        )
    raise RpError(404, "NotFound", f"No route registered for '{method} {path}'.")


async def _body(request: web.Request) -> JSON:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise RpError(
            400, "InvalidRequestContent", f"The request content was invalid: {exc}"
        ) from exc
    if not isinstance(body, dict):
        raise RpError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body
