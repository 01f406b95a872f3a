"""Control endpoints of the simulated cluster under `/_sim/kube/`, next to the API server's
routes: pod faults per revision, a bad proxy per revision (what mesh traffic sees, see
meshsim/traffic), the add-on's revisions and patch version, and the admission overlap
warnings. Bodies and answers are JSON; the faults' answer lists bad proxies under
"bad-proxy" while there are any.

    POST   /_sim/kube/faults/{never-ready|crashloop}   {"revision": "asm-1-23"}
    DELETE /_sim/kube/faults/{never-ready|crashloop}   optional {"revision": ...}
    POST   /_sim/kube/faults/bad-proxy                 {"revision": "asm-1-23", "error_ratio": 0.2,
                                                        "extra_latency_ms": 250}
    DELETE /_sim/kube/faults/bad-proxy                 optional {"revision": ...}
    DELETE /_sim/kube/faults                           clear every fault
    GET    /_sim/kube/faults
    GET    /_sim/kube/revisions
    PUT    /_sim/kube/revisions                        {"revisions": [...], "ingress": [...]}
    POST   /_sim/kube/revisions/{revision}/patch       {"version": "1.22.6"}
    GET    /_sim/kube/admission-warnings
    POST   /_sim/kube/evict                            {"namespace": "shop", "name": "web-x",
                                                        "resource": "memory"}  (optional)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from meshsim.kube.controllers.eviction import THRESHOLDS, evict_pod
from meshsim.kube.controllers.pods import FAULT_KINDS
from meshsim.kube.store import APIError

BAD_PROXY = "bad-proxy"

if TYPE_CHECKING:
    from meshsim.kube.cluster import KubeSim


def extra_routes(app: web.Application, sim: KubeSim) -> None:
    """Add the control routes for `sim` to the API server's `app`."""
    routes = _Routes(sim)
    app.router.add_get("/_sim/kube/faults", routes.get_faults)
    app.router.add_delete("/_sim/kube/faults", routes.clear_faults)
    app.router.add_post(f"/_sim/kube/faults/{BAD_PROXY}", routes.set_bad_proxy)
    app.router.add_delete(f"/_sim/kube/faults/{BAD_PROXY}", routes.clear_bad_proxy)
    app.router.add_post("/_sim/kube/faults/{kind}", routes.set_fault)
    app.router.add_delete("/_sim/kube/faults/{kind}", routes.clear_faults)
    app.router.add_get("/_sim/kube/revisions", routes.get_revisions)
    app.router.add_put("/_sim/kube/revisions", routes.put_revisions)
    app.router.add_post("/_sim/kube/revisions/{revision}/patch", routes.bump_patch)
    app.router.add_get("/_sim/kube/admission-warnings", routes.warnings)
    app.router.add_post("/_sim/kube/evict", routes.evict)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "the body is not JSON"}',
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "expected a JSON object"}',
                                 content_type="application/json")
    return body


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


class _Routes:
    def __init__(self, sim: KubeSim) -> None:
        self.sim = sim

    def _faults(self) -> dict[str, Any]:
        bad = self.sim.proxy_faults.snapshot()
        return {**self.sim.pod_faults.snapshot(), **({BAD_PROXY: bad} if bad else {})}

    async def get_faults(self, _: web.Request) -> web.Response:
        return web.json_response(self._faults())

    async def set_bad_proxy(self, request: web.Request) -> web.Response:
        body = await _body(request)
        revision, ratio = body.get("revision"), body.get("error_ratio", 0.0)
        extra = body.get("extra_latency_ms", 0.0)
        if not isinstance(revision, str) or not revision:
            return _bad('body needs {"revision": "<asm-x-y>", "error_ratio": 0.2, '
                        '"extra_latency_ms": 250}')
        numbers = (ratio, extra)
        if any(isinstance(n, bool) or not isinstance(n, int | float) for n in numbers):
            return _bad("error_ratio and extra_latency_ms must be numbers")
        if not 0 <= ratio <= 1 or extra < 0 or (ratio == 0 and extra == 0):
            return _bad("error_ratio must be within 0..1 and extra_latency_ms not negative, "
                        "and one of them above 0")
        self.sim.set_bad_proxy(revision, ratio, extra)
        return web.json_response(self._faults(), status=201)

    async def clear_bad_proxy(self, request: web.Request) -> web.Response:
        revision = (await _body(request)).get("revision")
        if revision is not None and not isinstance(revision, str):
            return _bad('"revision" must be a string')
        self.sim.clear_bad_proxy(revision)
        return web.json_response(self._faults())

    async def set_fault(self, request: web.Request) -> web.Response:
        kind, body = request.match_info["kind"], await _body(request)
        if kind not in FAULT_KINDS:
            return _bad(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        if not isinstance(body.get("revision"), str):
            return _bad('body needs {"revision": "<asm-x-y>"}')
        self.sim.set_pod_fault(kind, body["revision"])
        return web.json_response(self._faults(), status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        kind, body = request.match_info.get("kind"), await _body(request)
        if kind is not None and kind not in FAULT_KINDS:
            return _bad(f"unknown fault {kind!r}")
        self.sim.clear_pod_faults(kind, body.get("revision"))
        if kind is None:
            self.sim.clear_bad_proxy()
        return web.json_response(self._faults())

    async def get_revisions(self, _: web.Request) -> web.Response:
        return web.json_response({"revisions": self.sim.revisions(),
                                  "ingress": list(self.sim.ingress_modes)})

    async def put_revisions(self, request: web.Request) -> web.Response:
        body = await _body(request)
        revisions = body.get("revisions")
        if not isinstance(revisions, list):
            return _bad('body needs {"revisions": [...]}')
        try:
            self.sim.set_revisions([str(r) for r in revisions], body.get("ingress"))
        except KeyError as exc:
            return _bad(str(exc))
        return await self.get_revisions(request)

    async def bump_patch(self, request: web.Request) -> web.Response:
        revision, body = request.match_info["revision"], await _body(request)
        if not isinstance(body.get("version"), str):
            return _bad('body needs {"version": "x.y.z"}')
        if revision not in self.sim.revisions():
            return web.json_response({"error": f"revision {revision} is not installed"},
                                     status=404)
        self.sim.bump_patch(revision, body["version"])
        return web.json_response({"revision": revision, "version": body["version"]})

    async def warnings(self, _: web.Request) -> web.Response:
        return web.json_response(self.sim.admission_warnings)

    async def evict(self, request: web.Request) -> web.Response:
        """The kubelet evicts a running pod under node pressure (Failed, reason Evicted)."""
        body = await _body(request)
        namespace, name = body.get("namespace"), body.get("name")
        resource = body.get("resource", "memory")
        if not isinstance(namespace, str) or not isinstance(name, str):
            return _bad('body needs {"namespace": "...", "name": "<pod>"}')
        if resource not in THRESHOLDS:
            return _bad(f"unknown resource {resource!r}; known: {', '.join(THRESHOLDS)}")
        try:
            pod = evict_pod(self.sim.store, self.sim.clock, namespace, name, resource)
        except APIError as exc:
            return web.json_response({"error": exc.message}, status=exc.code)
        status = pod["status"]
        return web.json_response({"namespace": namespace, "name": name, "phase": status["phase"],
                                  "reason": status["reason"], "message": status["message"]})
