"""Control routes of the simulated ARM, for tests, the sandbox and people poking at it.

`GET|DELETE /_sim/arm/calls`, `GET /_sim/arm/clusters`, `POST /_sim/arm/fail-next-operation`,
`POST /_sim/arm/patch-release` and `POST /_sim/arm/change-cluster` (another tool's write: tags,
pool counts). They need no token and are not recorded as ARM calls.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from meshsim.arm.calls import CallLog
from meshsim.arm.changes import ClusterChange
from meshsim.arm.provider import ResourceProvider
from meshsim.arm.rp import RpError

DEFAULT_FAILURE = (
    "InternalOperationError",
    "The operation failed in the simulated resource provider.",
)


def add_control_routes(app: web.Application, rp: ResourceProvider, log: CallLog) -> None:
    async def get_calls(request: web.Request) -> web.Response:
        calls = log.calls(request.query.get("method"), request.query.get("path"))
        return web.json_response([c.as_json() for c in calls])

    async def clear_calls(_: web.Request) -> web.Response:
        log.clear()
        return web.json_response({"cleared": True})

    async def get_clusters(_: web.Request) -> web.Response:
        return web.json_response(
            [cluster_state(rp, c.subscription_id, c.resource_group, c.name) for c in rp.clusters()]
        )

    async def fail_next(request: web.Request) -> web.Response:
        spec = await _json_object(request)
        code = str(spec.get("code") or DEFAULT_FAILURE[0])
        message = str(spec.get("message") or DEFAULT_FAILURE[1])
        rp.operations.fail_next(code, message)
        return web.json_response({"code": code, "message": message}, status=201)

    async def patch_release(request: web.Request) -> web.Response:
        spec = await _json_object(request)
        revision, version = spec.get("revision"), spec.get("version")
        if not isinstance(revision, str) or not isinstance(version, str):
            return web.json_response({"error": "revision and version are required"}, status=400)
        try:
            clusters = rp.patch_release(revision, version)
        except RpError as exc:
            return web.json_response(exc.body(), status=exc.status)
        return web.json_response({"revision": revision, "version": version, "clusters": clusters})

    async def change_cluster(request: web.Request) -> web.Response:
        spec = await _json_object(request)
        name, when = spec.get("name"), spec.get("when", "now")
        if not isinstance(name, str) or when not in ("now", "afterNextGet"):
            return web.json_response(
                {"error": "name is required; when is 'now' or 'afterNextGet'"}, status=400)
        later = when == "afterNextGet"
        try:
            c = rp.find(name, _text(spec.get("resourceGroup")), _text(spec.get("subscriptionId")))
            rp.change(c, ClusterChange.from_json(spec), after_next_get=later)
        except RpError as exc:
            return web.json_response(exc.body(), status=exc.status)
        state = cluster_state(rp, c.subscription_id, c.resource_group, c.name)
        return web.json_response(state, status=202 if later else 200)

    app.router.add_get("/_sim/arm/calls", get_calls)
    app.router.add_delete("/_sim/arm/calls", clear_calls)
    app.router.add_get("/_sim/arm/clusters", get_clusters)
    app.router.add_post("/_sim/arm/fail-next-operation", fail_next)
    app.router.add_post("/_sim/arm/patch-release", patch_release)
    app.router.add_post("/_sim/arm/change-cluster", change_cluster)


def cluster_state(
    rp: ResourceProvider, subscription_id: str, resource_group: str, name: str
) -> dict[str, Any]:
    """What ARM shows (goal revisions, provisioning state) beside what the cluster runs."""
    c = rp.cluster(subscription_id, resource_group, name)
    return {
        "subscriptionId": c.subscription_id,
        "resourceGroup": c.resource_group,
        "name": c.name,
        "revisions": c.revisions,
        "applied": list(c.applied),
        "provisioningState": c.provisioning_state,
        "operationId": c.operation_id,
        "eTag": c.etag,
        "tags": dict(c.tags),
        "agentPoolCounts": {p.name: p.count for p in c.pools},
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def _json_object(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    return body if isinstance(body, dict) else {}
