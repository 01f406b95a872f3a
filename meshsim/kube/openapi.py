"""A minimal OpenAPI v3 document set, generated from the resource registry.

kubectl create/apply download `/openapi/v3` before sending anything (kubectl-wire.md). For each
kind they look for a PATCH operation tagged with `x-kubernetes-group-version-kind`: when it
lists the `fieldValidation` query parameter, kubectl leaves validation to the server and sends
`fieldValidation=Strict`; otherwise it validates client-side against the schema carrying the
same extension. Both are served; the schemas are permissive (unknown fields preserved).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from meshsim.kube.discovery import CREATE_ONLY, GIT_VERSION
from meshsim.kube.resources import RESOURCE_TYPES, ResourceType

Obj = dict[str, Any]

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")
_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


class OpenAPIDocs:
    """The index and per-group-version documents, encoded once."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        for prefix in sorted({_prefix(rt) for rt in RESOURCE_TYPES}):
            types = [rt for rt in RESOURCE_TYPES if _prefix(rt) == prefix]
            self.documents[prefix] = orjson.dumps(_document(types))
        self.index = orjson.dumps({"paths": {
            prefix: {"serverRelativeURL": f"/openapi/v3/{prefix}?hash={_hash(doc)}"}
            for prefix, doc in self.documents.items()}})


def _prefix(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def _hash(document: bytes) -> str:
    return hashlib.sha512(document).hexdigest().upper()


def _document(types: list[ResourceType]) -> Obj:
    paths: Obj = {}
    for rt in types:
        paths.update(_paths(rt))
    schemas = {_schema_name(rt): _schema(rt) for rt in types}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": GIT_VERSION},
            "paths": paths, "components": {"schemas": schemas}}


def _schema_name(rt: ResourceType) -> str:
    package = rt.group.split(".")[0] if rt.group else "core"
    return f"io.k8s.api.{package}.{rt.version}.{rt.kind}"


def _schema(rt: ResourceType) -> Obj:
    fields = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": _OPEN,
              "spec": _OPEN, "status": _OPEN}
    return {**_OPEN, "description": f"{rt.kind} (simulated; unknown fields are preserved)",
            "properties": fields, "x-kubernetes-group-version-kind": [_gvk(rt)]}


def _gvk(rt: ResourceType) -> Obj:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _paths(rt: ResourceType) -> Obj:
    base = f"/{_prefix(rt)}/" + ("namespaces/{namespace}/" if rt.namespaced else "")
    collection = base + rt.plural
    if rt.kind in CREATE_ONLY:
        return {collection: {"post": _operation(rt, "post")}}
    return {collection: {"get": _operation(rt, "list"), "post": _operation(rt, "post")},
            collection + "/{name}": {verb: _operation(rt, verb)
                                     for verb in ("get", "put", "patch", "delete")}}


def _operation(rt: ResourceType, action: str) -> Obj:
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    params = [{"name": q, "in": "query", "schema": {"type": "string"}} for q in _QUERY]
    return {"operationId": f"{action}{rt.kind}", "parameters": params,
            "responses": {"200": {"description": "OK",
                                  "content": {"application/json": {"schema": ref}}}},
            "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(rt)}
