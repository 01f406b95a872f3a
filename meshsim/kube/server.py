"""The simulated Kubernetes API server: an aiohttp app over a Store, as kubectl sees it.

`make_app` mounts discovery, OpenAPI v3, health checks and the REST verbs of every registered
type, the shared fault middleware, and the request log (`GET/DELETE /_sim/requests`). Every
refusal is a `Status` object with the real server's code and reason. JSON only: clients that
offer protobuf also accept JSON (kubectl sends `application/vnd.kubernetes.protobuf,
application/json`), and one that asks for protobuf alone gets 406.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from meshsim.faults import Faults, Handler, add_fault_routes, fault_middleware
from meshsim.kube import discovery
from meshsim.kube.auth import ANONYMOUS, ClusterAuth, Decision, User, request_user
from meshsim.kube.openapi import OpenAPIDocs
from meshsim.kube.requestinfo import Authorizer, RequestAttributes, RequestLog, parse
from meshsim.kube.resources import lookup
from meshsim.kube.rest import Resources, json_response, read_json
from meshsim.kube.store import APIError, Obj, Store

log = logging.getLogger(__name__)

ATTRS = web.RequestKey("attrs", RequestAttributes)
RECORDED = web.RequestKey("recorded", bool)
USER = web.RequestKey("user", User)
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
           405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Expired",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests",
           500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
# Which verbs each URL shape serves: collection, named object, object's /status.
SHAPES = {"collection": {"list", "watch", "create", "deletecollection"},
          "object": {"get", "update", "patch", "delete"}, "status": {"get", "update", "patch"}}


def make_app(store: Store, faults: Faults, request_log: RequestLog | None = None,
             authorizer: Authorizer | None = None, auth: ClusterAuth | None = None,
             kubernetes_version: Callable[[], str] | None = None) -> web.Application:
    """The API server app; `authorizer(attrs)` (default: allow all) decides every resource
    request (403 Forbidden when False) and answers SelfSubjectAccessReviews. With `auth` (an
    Entra ID cluster), every request but the control API's is authenticated first (401) and
    authorized as its user (meshsim/kube/auth.py). /version answers `kubernetes_version()`
    (default: discovery.GIT_VERSION), so it follows a cluster upgrade."""
    requests = request_log if request_log is not None else RequestLog()
    middlewares = [_record_middleware(requests), fault_middleware(faults, status_body),
                   _status_middleware]
    if auth is not None:
        middlewares.append(_auth_middleware(auth))
    app = web.Application(client_max_size=64 * 2**20, middlewares=middlewares)
    app.on_response_prepare.append(_recorder(requests))
    add_fault_routes(app, faults)
    _add_request_log_routes(app, requests)
    api = KubeAPI(store, authorizer, auth)
    for path in ("/healthz", "/readyz", "/livez"):
        app.router.add_get(path, _ok)
    answer = _version(kubernetes_version or (lambda: discovery.GIT_VERSION))
    app.router.add_get("/version", answer)
    app.router.add_get("/version/", answer)  # the Python client's VersionApi asks this one
    app.router.add_get("/openapi/v3", api.openapi)
    app.router.add_get("/openapi/v3/{prefix:.+}", api.openapi)
    for prefix in ("/api", "/apis"):
        app.router.add_route("*", prefix, api.dispatch)
        app.router.add_route("*", prefix + "/{tail:.*}", api.dispatch)
    return app


def status_body(code: int) -> bytes:
    reason = REASONS.get(code, "Unknown")
    return orjson.dumps(APIError(code, reason, f"simulated fault: {reason}").status())


class KubeAPI:
    def __init__(self, store: Store, authorizer: Authorizer | None,
                 auth: ClusterAuth | None = None) -> None:
        self.resources = Resources(store)
        self.authorizer = authorizer
        self.auth = auth
        self.openapi_docs = OpenAPIDocs()

    def decide(self, request: web.Request, attrs: RequestAttributes) -> Decision:
        if self.authorizer is not None and not self.authorizer(attrs):
            return Decision(False)
        if self.auth is None:
            return Decision(True)
        return self.auth.authorize(request.get(USER, ANONYMOUS), attrs)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        attrs = request[ATTRS]
        _check_accept(request)
        if not attrs.resource:
            return _discovery(request)
        rt = lookup(attrs.api_group, attrs.resource)
        if rt is None or rt.version != attrs.api_version:
            raise _no_resource()
        decision = self.decide(request, attrs)
        if not decision.allowed:
            raise _forbidden(attrs, request.get(USER, ANONYMOUS).name, decision.reason)
        _check_shape(attrs, rt.namespaced, rt.has_status)
        if rt.kind == "SelfSubjectAccessReview":
            return await self.review(request)
        return await self.resources.handle(request, rt, attrs)

    async def review(self, request: web.Request) -> web.Response:
        """SelfSubjectAccessReview: answered by the authorizer, never stored."""
        body = await read_json(request)
        spec = body.get("spec") if isinstance(body, dict) else None
        if not isinstance(spec, dict):
            raise APIError(422, "Invalid", "SelfSubjectAccessReview is invalid: spec: Required")
        decision = self.decide(request, _review_attributes(spec))
        status: Obj = {"allowed": decision.allowed}
        if decision.denied:
            status["denied"] = True
        if decision.reason:
            status["reason"] = decision.reason
        answer = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                  "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
        return json_response(orjson.dumps(answer), 201)

    async def openapi(self, request: web.Request) -> web.Response:
        prefix = request.match_info.get("prefix")
        docs = self.openapi_docs
        document = docs.index if prefix is None else docs.documents.get(prefix)
        if document is None:
            raise _no_resource()
        return json_response(document)


def _review_attributes(spec: Obj) -> RequestAttributes:
    res = spec.get("resourceAttributes") or {}
    if res:
        return RequestAttributes(res.get("verb", ""), res.get("group", ""),
                                 res.get("version", ""), res.get("resource", ""),
                                 res.get("subresource", ""), res.get("namespace", ""),
                                 res.get("name", ""))
    other = spec.get("nonResourceAttributes") or {}
    return RequestAttributes(other.get("verb", ""), path=other.get("path", ""))


def _check_shape(attrs: RequestAttributes, namespaced: bool, has_status: bool) -> None:
    if attrs.subresource not in ("", "status") or (attrs.subresource and not has_status):
        raise _no_resource()
    if (attrs.namespace and not namespaced) or (namespaced and attrs.name and not attrs.namespace):
        raise _no_resource()
    shape = "status" if attrs.subresource else "object" if attrs.name else "collection"
    if attrs.verb not in SHAPES[shape] or (attrs.verb == "create" and namespaced
                                           and not attrs.namespace):
        raise APIError(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource")


def _check_accept(request: web.Request) -> None:
    accept = request.headers.get("Accept", "")
    if "protobuf" in accept and "json" not in accept and "*/*" not in accept:
        raise APIError(406, "NotAcceptable", "only the following media types are accepted: "
                       "application/json")


def _discovery(request: web.Request) -> web.Response:
    if request.method != "GET":
        raise APIError(405, "MethodNotAllowed", "the server does not allow this method")
    parts = [p for p in request.path.split("/") if p]
    document: Obj | None = None
    if parts == ["api"]:
        document = discovery.core_versions()
    elif parts == ["apis"]:
        document = discovery.group_list()
    elif parts == ["api", "v1"]:
        document = discovery.resource_list("", "v1")
    elif len(parts) == 2 and parts[0] == "apis":
        document = discovery.group(parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        document = discovery.resource_list(parts[1], parts[2])
    if document is None:
        raise _no_resource()
    return json_response(orjson.dumps(document))


def _no_resource() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource")


def _forbidden(attrs: RequestAttributes, user: str = ANONYMOUS.name, reason: str = ""
               ) -> APIError:
    where = f' in the namespace "{attrs.namespace}"' if attrs.namespace else " at the cluster scope"
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    because = f": {reason}" if reason else ""  # the authorizer's words, as kubectl shows them
    return APIError(403, "Forbidden", f'{attrs.resource} is forbidden: User "{user}" '
                    f'cannot {attrs.verb} resource "{resource}" in API group '
                    f'"{attrs.api_group}"{where}{because}',
                    {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource})


async def _ok(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def _version(kubernetes_version: Callable[[], str]) -> Handler:
    async def handle(_: web.Request) -> web.Response:
        return json_response(orjson.dumps(discovery.version(kubernetes_version())))
    return handle


def _auth_middleware(auth: ClusterAuth) -> Middleware:
    """Authenticate every request but the control API's (meshsim/kube/auth.py)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/_sim/"):
            request[USER] = request_user(auth, request)
        return await handler(request)

    return middleware


@web.middleware
async def _status_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except APIError as exc:
        return json_response(orjson.dumps(exc.status()), exc.code)
    except web.HTTPNotFound:  # no route: later routes (callers' /_sim/... ones) stay reachable
        return json_response(orjson.dumps(_no_resource().status()), 404)
    except web.HTTPException:
        raise
    except Exception as exc:  # a simulator bug: answer like the real server would, and say so
        log.exception("kube API handler failed: %s %s", request.method, request.path)
        error = APIError(500, "InternalError", f"Internal error occurred: {exc}")
        return json_response(orjson.dumps(error.status()), 500)


def _record_middleware(requests: RequestLog) -> Middleware:
    """Parse every request once; record it when its answer starts (see `_recorder`), or here
    when it never gets one (a dropped connection, recorded with code 0)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[ATTRS] = parse(request.method, request.path, request.query)
        request[RECORDED] = request.path.startswith("/_sim/")
        try:
            return await handler(request)
        except web.HTTPException as exc:
            _record_once(requests, request, exc.status)
            raise
        except BaseException:
            _record_once(requests, request, 0)
            raise

    return middleware


def _recorder(requests: RequestLog) -> Callable[[web.Request, web.StreamResponse],
                                                Awaitable[None]]:
    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        _record_once(requests, request, response.status)

    return on_prepare


def _record_once(requests: RequestLog, request: web.Request, code: int) -> None:
    if ATTRS in request and not request.get(RECORDED, True):
        request[RECORDED] = True
        requests.record(request[ATTRS], request.headers.get("User-Agent", ""), code)


def _add_request_log_routes(app: web.Application, requests: RequestLog) -> None:
    """`GET /_sim/requests[?verb=patch&resource=deployments]` lists records; DELETE clears."""

    async def get(request: web.Request) -> web.Response:
        match: dict[str, str | int] = dict(request.query)
        if "code" in match:
            match["code"] = int(match["code"])
        return web.json_response([r.to_json() for r in requests.records(**match)])

    async def delete(_: web.Request) -> web.Response:
        requests.clear()
        return web.json_response({"cleared": True})

    app.router.add_get("/_sim/requests", get)
    app.router.add_delete("/_sim/requests", delete)
