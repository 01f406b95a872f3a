"""Control routes of the simulated Entra ID tenant (no token, not recorded).

- `GET /_sim/entra/tenant`: the tenant id, the token lifetime, the registered apps (names,
  client and object ids; no secrets) and the clusters whose scopes roles can be granted on.
- `PUT /_sim/entra/token-lifetime {"seconds": 5}`: the lifetime of tokens issued from now on.
- `GET /_sim/entra/role-assignments`: Azure RBAC role assignments.
- `POST /_sim/entra/role-assignments {"principal", "role", "cluster" | "scope", "namespace"?}`:
  grant a role (`principal`: an app's name, client id or object id, or any object id; `role`:
  "Azure Kubernetes Service RBAC Reader|Writer|Admin|Cluster Admin", or an ARM role: "Reader",
  "Contributor", "Azure Kubernetes Service Contributor Role|Cluster User Role"); 201 with it.
- `DELETE /_sim/entra/role-assignments?principal=&role=&cluster=|scope=` or
  `DELETE /_sim/entra/role-assignments/{id}`: revoke; answers what was removed.
- `GET /_sim/entra/calls[?scope=management]`: token requests (client id, scope, status);
  `DELETE` clears them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from meshsim.entra.rbac import as_json

if TYPE_CHECKING:
    from meshsim.entra.sim import EntraSim


def add_control_routes(app: web.Application, entra: EntraSim) -> None:
    async def tenant(_: web.Request) -> web.Response:
        return web.json_response(entra.describe_tenant())

    async def lifetime(request: web.Request) -> web.Response:
        spec = await _object(request)
        seconds = spec.get("seconds")
        if not isinstance(seconds, int | float) or seconds <= 0:
            return _bad("seconds must be a positive number")
        entra.tenant.token_lifetime = float(seconds)
        return web.json_response({"seconds": entra.tenant.token_lifetime})

    async def list_assignments(_: web.Request) -> web.Response:
        return web.json_response(as_json(entra.assignments.list()))

    async def grant(request: web.Request) -> web.Response:
        spec = await _object(request)
        try:
            assignment = entra.grant(_text(spec, "principal"), _text(spec, "role"),
                                     entra.scope(spec.get("cluster"), spec.get("scope"),
                                                 spec.get("namespace")))
        except (KeyError, ValueError) as exc:
            return _bad(str(exc).strip("'\""))
        return web.json_response(assignment.to_json(), status=201)

    async def revoke(request: web.Request) -> web.Response:
        query = request.query
        try:
            scope = (entra.scope(query.get("cluster"), query.get("scope"), query.get("namespace"))
                     if "cluster" in query or "scope" in query else None)
            principal = entra.principal_id(query["principal"]) if "principal" in query else None
        except (KeyError, ValueError) as exc:
            return _bad(str(exc).strip("'\""))
        gone = entra.assignments.revoke(principal, query.get("role"), scope,
                                        request.match_info.get("id"))
        return web.json_response({"revoked": as_json(gone)})

    async def calls(request: web.Request) -> web.Response:
        found = entra.calls(request.query.get("scope", ""))
        return web.json_response([c.as_json() for c in found])

    async def clear_calls(_: web.Request) -> web.Response:
        entra.clear_calls()
        return web.json_response({"cleared": True})

    app.router.add_get("/_sim/entra/tenant", tenant)
    app.router.add_put("/_sim/entra/token-lifetime", lifetime)
    app.router.add_get("/_sim/entra/role-assignments", list_assignments)
    app.router.add_post("/_sim/entra/role-assignments", grant)
    app.router.add_delete("/_sim/entra/role-assignments", revoke)
    app.router.add_delete("/_sim/entra/role-assignments/{id}", revoke)
    app.router.add_get("/_sim/entra/calls", calls)
    app.router.add_delete("/_sim/entra/calls", clear_calls)


async def _object(request: web.Request) -> dict[str, Any]:
    try:
        spec = await request.json()
    except ValueError:
        spec = None
    return spec if isinstance(spec, dict) else {}


def _text(spec: dict[str, Any], key: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is required")
    return value


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)
