"""REST verbs on stored objects: get, list, watch, create, update, patch, delete.

Each handler takes the parsed request attributes and answers the object JSON (or a list, or a
watch stream); every refusal is an APIError that the server renders as a Status. Checks follow
the real registry: URL and body must agree on namespace and name (400 BadRequest), names must
be DNS subdomains (422 Invalid), `/status` writes change only the status.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import yaml
from aiohttp import web

from meshsim.kube.lists import bad_request, list_of, list_page, page_metadata, parse_query
from meshsim.kube.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from meshsim.kube.requestinfo import RequestAttributes
from meshsim.kube.resources import ResourceType
from meshsim.kube.store import APIError, Obj, Store, not_found
from meshsim.kube.tables import table, wants_table
from meshsim.kube.watch import Render, serve_watch

PATCHERS = {"application/merge-patch+json": merge_patch,
            "application/strategic-merge-patch+json": strategic_merge_patch,
            "application/json-patch+json": json_patch}
APPLY = "application/apply-patch+yaml"
NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def json_response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def obj_response(store: Store, rt: ResourceType, obj: Obj, status: int = 200) -> web.Response:
    meta = obj["metadata"]
    key = (meta.get("namespace", ""), meta["name"])
    return json_response(store.encoded(rt, key, obj), status)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the body of the request could not be decoded: {exc}") from exc


class Resources:
    """The verbs of one store; `namespace` is None when a list spans all namespaces."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle(self, request: web.Request, rt: ResourceType,
                     attrs: RequestAttributes) -> web.StreamResponse:
        namespace = attrs.namespace if rt.namespaced else ""
        if attrs.verb in ("list", "watch", "deletecollection"):
            return await self._collection(request, rt, attrs.verb, attrs.namespace or None)
        if attrs.verb == "create":
            return await self.create(request, rt, namespace)
        if attrs.verb == "get" and wants_table(request.headers.get("Accept", "")):
            obj = self.store.get(rt, namespace, attrs.name)
            rv = {"resourceVersion": str(self.store.resource_version)}
            return self._table(request, rt, [obj], rv)
        if attrs.verb == "get":
            return obj_response(self.store, rt, self.store.get(rt, namespace, attrs.name))
        if attrs.verb == "update":
            return await self.update(request, rt, namespace, attrs)
        if attrs.verb == "patch":
            return await self.patch(request, rt, namespace, attrs)
        return await self.delete(request, rt, namespace, attrs.name)

    async def _collection(self, request: web.Request, rt: ResourceType, verb: str,
                          namespace: str | None) -> web.StreamResponse:
        q = parse_query(request.query)
        if verb == "watch":
            render = self._renderer(request, rt)
            return await serve_watch(request, self.store, rt, namespace, q, render)
        if verb == "list" and wants_table(request.headers.get("Accept", "")):
            page = self.store.page(rt, namespace, q.labels, q.fields, q.limit, q.start)
            return self._table(request, rt, page.items, page_metadata(page, q))
        if verb == "list":
            return json_response(list_page(self.store, rt, namespace, q))
        with self.store.lock:
            doomed = self.store.page(rt, namespace, q.labels, q.fields).items
            gone = [self.store.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"])
                    for o in doomed]
        return json_response(list_of(rt, gone, self.store.resource_version))

    def _table(self, request: web.Request, rt: ResourceType, objects: list[Obj],
               metadata: Obj) -> web.Response:
        include = request.query.get("includeObject", "PartialObjectMetadata")
        answer = table(rt, objects, metadata, self.store.clock.now(), include)
        return json_response(orjson.dumps(answer))

    def _renderer(self, request: web.Request, rt: ResourceType) -> Render | None:
        """Watch events as one-row Tables when kubectl's `get -w` asks for them."""
        if not wants_table(request.headers.get("Accept", "")):
            return None
        include = request.query.get("includeObject", "PartialObjectMetadata")

        def render(obj: Obj) -> bytes:
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return orjson.dumps(table(rt, [obj], meta, self.store.clock.now(), include))

        return render

    async def create(self, request: web.Request, rt: ResourceType, namespace: str) -> web.Response:
        body = expect_object(await read_json(request), rt)
        meta = body.setdefault("metadata", {})
        check_namespace(rt, meta, namespace)
        if meta.get("name"):
            check_name(rt, meta["name"])
        if dry_run(request):
            return json_response(orjson.dumps(self._dry_create(rt, body, namespace)), 201)
        return obj_response(self.store, rt, self.store.create(rt, body, namespace), 201)

    def _dry_create(self, rt: ResourceType, body: Obj, namespace: str) -> Obj:
        meta = body["metadata"]
        if self.store.find(rt, namespace, meta.get("name", "")) is not None:
            raise APIError(409, "AlreadyExists", f'{rt.plural} "{meta["name"]}" already exists')
        if rt.namespaced:
            meta["namespace"] = namespace
        return {**body, "apiVersion": rt.api_version, "kind": rt.kind}

    async def update(self, request: web.Request, rt: ResourceType, namespace: str,
                     attrs: RequestAttributes) -> web.Response:
        body = expect_object(await read_json(request), rt)
        meta = body.setdefault("metadata", {})
        check_namespace(rt, meta, namespace)
        if meta.get("name") != attrs.name:
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the "
                              f"name on the URL ({attrs.name})")
        if dry_run(request):
            return obj_response(self.store, rt, self.store.get(rt, namespace, attrs.name))
        updated = self.store.update(rt, body, status_only=attrs.subresource == "status")
        return obj_response(self.store, rt, updated)

    async def patch(self, request: web.Request, rt: ResourceType, namespace: str,
                    attrs: RequestAttributes) -> web.Response:
        """Patch under the store lock, so the object patched is the one replaced; a
        `metadata.resourceVersion` in the patch is checked like an update's."""
        kind = request.content_type
        if kind not in PATCHERS and kind != APPLY:
            raise unsupported_media_type()
        body = decode_patch(await request.read(), kind)
        with self.store.lock:
            old = self.store.find(rt, namespace, attrs.name)
            if old is None and kind == APPLY and not attrs.subresource:
                check_namespace(rt, expect_object(body, rt).setdefault("metadata", {}), namespace)
                return obj_response(self.store, rt, self.store.create(rt, body, namespace), 201)
            if old is None:
                raise not_found(rt, attrs.name)
            new = _patched(rt, old, body, kind, attrs.name)
            if dry_run(request):
                return json_response(orjson.dumps(new))
            updated = self.store.update(rt, new, status_only=attrs.subresource == "status")
            return obj_response(self.store, rt, updated)

    async def delete(self, request: web.Request, rt: ResourceType, namespace: str,
                     name: str) -> web.Response:
        await read_json(request)  # DeleteOptions (propagationPolicy, preconditions): accepted
        if dry_run(request):
            return obj_response(self.store, rt, self.store.get(rt, namespace, name))
        return json_response(orjson.dumps(self.store.delete(rt, namespace, name)))


def expect_object(body: Any, rt: ResourceType) -> Obj:
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be a JSON object")
    for field, expected in (("apiVersion", rt.api_version), ("kind", rt.kind)):
        if body.get(field) not in (None, "", expected):
            raise bad_request(f"the {field} in the data ({body[field]}) does not match the "
                              f"expected {field} ({expected})")
    return body


def check_namespace(rt: ResourceType, meta: Obj, namespace: str) -> None:
    if rt.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request("the namespace of the provided object does not match the namespace "
                          "sent on the request")


def check_name(rt: ResourceType, name: Any) -> None:
    if not isinstance(name, str) or len(name) > 253 or not NAME.fullmatch(name):
        raise APIError(422, "Invalid", f'{rt.kind} "{name}" is invalid: metadata.name: Invalid '
                       f"value: {name!r}: a lowercase RFC 1123 subdomain must consist of lower "
                       "case alphanumeric characters, '-' or '.', and must start and end with "
                       "an alphanumeric character",
                       {"name": str(name), "group": rt.group, "kind": rt.kind,
                        "causes": [{"reason": "FieldValueInvalid", "field": "metadata.name"}]})


def dry_run(request: web.Request) -> bool:
    return "All" in request.query.getall("dryRun", [])


def unsupported_media_type() -> APIError:
    return APIError(415, "UnsupportedMediaType", "the body of the request was in an unknown "
                    "format - accepted media types include: application/json-patch+json, "
                    "application/merge-patch+json, application/apply-patch+yaml, "
                    "application/strategic-merge-patch+json")


def decode_patch(raw: bytes, kind: str) -> Any:
    try:
        return yaml.load(raw, Loader=_YAML_LOADER) if kind == APPLY else orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding patch: {exc}") from exc


_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _patched(rt: ResourceType, old: Obj, body: Any, kind: str, name: str) -> Obj:
    patcher = strategic_merge_patch if kind == APPLY else PATCHERS[kind]
    try:
        new = patcher(old, body)
    except PatchError as exc:
        raise APIError(exc.code, "Invalid" if exc.code == 422 else "BadRequest", str(exc)) from exc
    new = expect_object(new, rt)
    meta = new.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != name:
        raise bad_request(f"the name of the object does not match the name on the URL ({name})")
    if meta.get("namespace") != old["metadata"].get("namespace"):
        raise bad_request("the namespace of the provided object does not match the namespace "
                          "sent on the request")
    return new
