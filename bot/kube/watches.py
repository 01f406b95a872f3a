"""Watch streams of workload objects, read as raw JSON lines on a background thread.

One stream per kind (cluster-wide, or one namespace when a wave stays in one), instead of a GET
per workload per poll. The stream resumes from the last resourceVersion it saw when the
server ends it (`timeoutSeconds`), reports `EXPIRED` on 410 Gone so the caller re-reads, and
is stopped by shutting its socket down (urllib3 2.x `HTTPResponse.shutdown`).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from kubernetes.client import AppsV1Api

from bot.kube.rest import KubeIO, Obj
from bot.upgrade.errors import MeshUpgradeError

EXPIRED, FAILED = "EXPIRED", "FAILED"


@dataclass(frozen=True)
class WatchEvent:
    kind: str  # Deployment, StatefulSet, DaemonSet
    type: str  # ADDED, MODIFIED, DELETED, EXPIRED, FAILED
    obj: Obj
    error: MeshUpgradeError | None = None


PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def list_function(apps: AppsV1Api, kind: str, namespace: str | None) -> Callable[..., Any]:
    """The AppsV1Api list call for `kind`, bound to `namespace` if given."""
    singular = {"Deployment": "deployment", "StatefulSet": "stateful_set",
                "DaemonSet": "daemon_set"}[kind]
    if namespace is None:
        fn: Callable[..., Any] = getattr(apps, f"list_{singular}_for_all_namespaces")
        return fn
    namespaced = getattr(apps, f"list_namespaced_{singular}")
    return lambda **kw: namespaced(namespace, **kw)


def current_version(io: KubeIO, apps: AppsV1Api, kind: str, namespace: str | None) -> str:
    """The collection's resourceVersion, from a one-item list."""
    data = io.raw("list", PLURALS[kind], list_function(apps, kind, namespace), limit=1)
    return str(data["metadata"]["resourceVersion"])


class KindWatch:
    def __init__(self, io: KubeIO, apps: AppsV1Api, kind: str, namespace: str | None,
                 events: queue.Queue[WatchEvent], server_timeout: int = 60) -> None:
        self.io, self.kind, self.events = io, kind, events
        self._list = list_function(apps, kind, namespace)
        self._timeout = server_timeout
        self._stopped = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self.resource_version = ""

    def start(self, resource_version: str) -> None:
        self.resource_version = resource_version
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.kind}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(AttributeError, OSError):
                response.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        try:
            while not self._stopped.is_set():
                if not self._stream_once():
                    return
        except MeshUpgradeError as exc:
            if not self._stopped.is_set():
                self.events.put(WatchEvent(self.kind, FAILED, {}, exc))
        except Exception as exc:  # a broken socket after stop() or a server hang-up
            if not self._stopped.is_set():
                error = MeshUpgradeError(f"watch on {PLURALS[self.kind]} failed: {exc}")
                self.events.put(WatchEvent(self.kind, FAILED, {}, error))

    def _stream_once(self) -> bool:
        """One watch request; False when the stream must not be resumed."""
        self._response = self.io.call(
            "watch", PLURALS[self.kind], self._list, watch=True, allow_watch_bookmarks=True,
            resource_version=self.resource_version, timeout_seconds=self._timeout,
            _preload_content=False, _request_timeout=(10, self._timeout + 15))
        try:
            buffer = b""
            for chunk in self._response.stream(65536, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip() and not self._deliver(orjson.loads(line)):
                        return False
        finally:
            self._response.release_conn()
            self._response = None
        return True

    def _deliver(self, event: Obj) -> bool:
        kind, obj = event.get("type", ""), event.get("object") or {}
        if kind == "ERROR":
            self.events.put(WatchEvent(self.kind, EXPIRED if obj.get("code") == 410 else FAILED,
                                       obj, MeshUpgradeError(str(obj.get("message", obj)))))
            return False
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind != "BOOKMARK":
            self.events.put(WatchEvent(self.kind, kind, obj))
        return True
