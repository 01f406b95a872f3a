"""`?watch=true`: a chunked stream of newline-delimited `{"type": ..., "object": ...}` events.

Store callbacks may run on any thread (tests write through the Python API), so they only hand
events to this loop with `call_soon_threadsafe`. Without a resourceVersion (or with "0") the
watch starts with synthetic ADDED events for what exists, as the real server does; with one,
it replays history, and a compacted one yields a single ERROR event carrying a 410 Expired
Status inside an HTTP 200 stream. With selectors, an object that stops matching is sent as
DELETED and one that starts matching as ADDED, like the watch cache does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from meshsim.kube.lists import ListQuery, bad_request
from meshsim.kube.resources import ResourceType
from meshsim.kube.selectors import field_matches, matches
from meshsim.kube.store import APIError, Event, Key, Obj, Store

DEFAULT_TIMEOUT = 1800.0  # the API server's --min-request-timeout
BOOKMARK_INTERVAL = 5.0
TICK = 0.5  # how often an idle watch notices a client that went away

Render = Callable[[Obj], bytes]


@dataclass
class Selection:
    """Which objects a watch sends, and which of them the client currently knows about."""

    q: ListQuery
    known: set[Key] = field(default_factory=set)

    def selects(self, obj: Obj) -> bool:
        labels = obj["metadata"].get("labels")
        return matches(self.q.labels, labels) and field_matches(self.q.fields, obj)

    def translate(self, event_type: str, obj: Obj) -> str | None:
        if not self.q.filtered:
            return event_type
        key = _key(obj)
        hit = self.selects(obj)
        if event_type == "DELETED" or not hit:
            was_known = key in self.known
            self.known.discard(key)
            return "DELETED" if was_known or (hit and event_type == "DELETED") else None
        out = event_type if event_type == "ADDED" or key in self.known else "ADDED"
        self.known.add(key)
        return out


async def serve_watch(request: web.Request, store: Store, rt: ResourceType,
                      namespace: str | None, q: ListQuery,
                      render: Render | None = None) -> web.StreamResponse:
    """Stream events; `render(obj)` encodes each object (default: the object's own JSON)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Obj]] = asyncio.Queue()

    def deliver(event_type: str, obj: Obj) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, (event_type, obj))

    selection = Selection(q)
    params = request.query
    rv_text = params.get("resourceVersion")
    since = _rv(rv_text) if rv_text and rv_text != "0" else None
    timeout = _timeout(params.get("timeoutSeconds"))
    response = _stream_response()
    await response.prepare(request)
    try:
        unsubscribe = _subscribe(store, rt, namespace, selection, since, deliver)
    except APIError as exc:
        await response.write(_line("ERROR", orjson.dumps(exc.status())))
        return response
    try:
        encode = render or (lambda obj: _encode(store, rt, obj))
        await _pump(request, response, encode, store, rt, selection, queue, timeout)
    finally:
        unsubscribe()
    return response


def _stream_response() -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    return response


def _subscribe(store: Store, rt: ResourceType, namespace: str | None, selection: Selection,
               since: int | None, deliver: Callable[[str, Obj], None]) -> Callable[[], None]:
    q = selection.q
    with store.lock:
        current = store.page(rt, namespace, q.labels, q.fields)
        selection.known.update(current.keys)
        if since is None:
            for obj in current.items:
                deliver("ADDED", obj)
        elif q.filtered:
            _rewind(store, rt, namespace, selection, since)
        return store.subscribe(rt, namespace, deliver, since=since)


def _rewind(store: Store, rt: ResourceType, namespace: str | None, selection: Selection,
            since: int) -> None:
    """Make `known` what the client knew at `since`: for objects changed later, whether the
    version before their first later change was selected (the watch cache's prevObject)."""
    first_change: dict[Key, Event] = {}
    for event in reversed(store.history):
        if event.rv <= since:
            break
        in_scope = namespace is None or event.obj["metadata"].get("namespace") == namespace
        if event.rt_key == rt.key and in_scope:
            first_change[_key(event.obj)] = event
    for key, event in first_change.items():
        if event.prev is not None and selection.selects(event.prev):
            selection.known.add(key)
        else:
            selection.known.discard(key)


def _rv(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise bad_request(f"invalid resourceVersion: {text!r}") from exc


async def _pump(request: web.Request, response: web.StreamResponse, encode: Render,
                store: Store, rt: ResourceType, selection: Selection,
                queue: asyncio.Queue[tuple[str, Obj]], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("true", "1")
    next_bookmark = loop.time() + BOOKMARK_INTERVAL
    while (now := loop.time()) < deadline and _connected(request):
        try:
            event_type, obj = await asyncio.wait_for(queue.get(), min(TICK, deadline - now))
        except TimeoutError:
            if bookmarks and loop.time() >= next_bookmark:
                next_bookmark = loop.time() + BOOKMARK_INTERVAL
                await response.write(_line("BOOKMARK", _bookmark(rt, store.resource_version)))
            continue
        sent_type = selection.translate(event_type, obj)
        if sent_type is not None:
            await response.write(_line(sent_type, encode(obj)))


def _timeout(text: str | None) -> float:
    try:
        return float(text) if text else DEFAULT_TIMEOUT
    except ValueError as exc:
        raise bad_request(f"invalid timeoutSeconds: {text!r}") from exc


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


def _key(obj: Obj) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _encode(store: Store, rt: ResourceType, obj: Obj) -> bytes:
    return store.encoded(rt, _key(obj), obj)


def _bookmark(rt: ResourceType, rv: int) -> bytes:
    return orjson.dumps({"kind": rt.kind, "apiVersion": rt.api_version,
                         "metadata": {"resourceVersion": str(rv)}})


def _line(event_type: str, data: bytes) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + data + b"}\n"
