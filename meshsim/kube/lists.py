"""List responses: selectors, `limit`/`continue` paging, and bodies streamed from cached JSON.

A list body is the per-object JSON the store encoded once (`Store.encoded`) joined between a
small head and tail, so serving 20,000 pods in pages of 500 costs little more than the copy.
The continue token is opaque base64 JSON holding the first key of the next page and the
resourceVersion of the first page, which every later page reports, as the real server does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from meshsim.kube.resources import ResourceType
from meshsim.kube.selectors import (
    FieldSelector,
    LabelSelector,
    SelectorError,
    parse_field_selector,
    parse_label_selector,
)
from meshsim.kube.store import APIError, Key, Obj, Page, Store


@dataclass(frozen=True)
class ListQuery:
    labels: LabelSelector
    fields: FieldSelector
    limit: int
    start: Key | None
    first_rv: int | None  # resourceVersion of the first page, carried by `continue`

    @property
    def filtered(self) -> bool:
        return bool(self.labels or self.fields)


def parse_query(query: Mapping[str, str]) -> ListQuery:
    """The list parameters of a request; bad selectors and tokens are 400 BadRequest."""
    try:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
    except SelectorError as exc:
        raise bad_request(str(exc)) from exc
    limit = _int(query.get("limit"), "limit")
    start, first_rv = decode_continue(query["continue"]) if query.get("continue") else (None, None)
    return ListQuery(labels, fields, max(limit, 0), start, first_rv)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def _int(text: str | None, name: str) -> int:
    if not text:
        return 0
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request(f"invalid {name}: {text!r}") from exc


def encode_continue(key: Key, rv: int) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[Key, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, name = data["start"]
        return (str(namespace), str(name)), int(data["rv"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise bad_request(f"continue key is not valid: {exc}") from exc


def list_page(store: Store, rt: ResourceType, namespace: str | None, q: ListQuery) -> bytes:
    """One page of a list as the JSON body of the answer."""
    with store.lock:
        page = store.page(rt, namespace, q.labels, q.fields, q.limit, q.start)
        pairs = zip(page.keys, page.items, strict=True)
        items = [store.encoded(rt, key, obj) for key, obj in pairs]
    return list_body(rt, page_metadata(page, q), items)


def page_metadata(page: Page, q: ListQuery) -> Obj:
    rv = q.first_rv if q.first_rv is not None else page.resource_version
    meta: Obj = {"resourceVersion": str(rv)}
    if page.next_key is not None:
        meta["continue"] = encode_continue(page.next_key, rv)
        if page.remaining is not None:
            meta["remainingItemCount"] = page.remaining
    return meta


def list_body(rt: ResourceType, metadata: Obj, items: list[bytes]) -> bytes:
    head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": metadata})
    return b"".join((head[:-1], b',"items":[', b",".join(items), b"]}"))


def list_of(rt: ResourceType, objects: list[Any], rv: int) -> bytes:
    """A list body for objects that are not (or no longer) in the store, e.g. deleted ones."""
    return list_body(rt, {"resourceVersion": str(rv)}, [orjson.dumps(o) for o in objects])
