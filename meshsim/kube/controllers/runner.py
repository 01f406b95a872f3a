"""Two ways to drive `Controllers`: `AsyncRunner` on the SimLoop (store events handed over with
`call_soon_threadsafe`, requeues as sim-clock timers), and `Settler`, which runs the same syncs
on the caller's thread until nothing changes, with pods starting at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable

from meshsim.kube.controllers.manager import RETRYING, WATCHED_KINDS, Controllers, WorkKey
from meshsim.kube.resources import by_kind
from meshsim.kube.store import Obj

log = logging.getLogger(__name__)
ERROR_RETRY = 1.0
PRIORITY = ("pod", "replicaset", "statefulset", "daemonset", "job", "deployment", "cronjob",
            "hpa-target", "hpa", "gc")  # sim seconds before a sync that raised runs again


class AsyncRunner:
    def __init__(self, controllers: Controllers, loop: asyncio.AbstractEventLoop) -> None:
        self.controllers, self.loop = controllers, loop
        self._queue: deque[WorkKey] = deque()
        self._queued: set[WorkKey] = set()
        self._timers: dict[WorkKey, asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe, queue every existing object (list-then-watch), start the worker."""
        store = self.controllers.store
        with store.lock:
            for kind in WATCHED_KINDS:
                self._unsubscribe.append(store.subscribe(by_kind(kind), None, self._on_event(kind)))
                for obj in store.list(by_kind(kind)):
                    self._add_all(self.controllers.keys_for(kind, "ADDED", obj))
        self._task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for timer in self._timers.values():
            timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def enqueue(self, keys: list[WorkKey]) -> None:
        """Thread-safe."""
        self.loop.call_soon_threadsafe(self._add_all, keys)

    def _on_event(self, kind: str) -> Callable[[str, Obj], None]:
        def callback(event: str, obj: Obj) -> None:
            self.loop.call_soon_threadsafe(self._add_all,
                                           self.controllers.keys_for(kind, event, obj))
        return callback

    def _add_all(self, keys: list[WorkKey]) -> None:
        for key in keys:
            if key not in self._queued:
                self._queued.add(key)
                self._queue.append(key)
        self._wake.set()

    def _add_later(self, key: WorkKey, sim_seconds: float) -> None:
        when = self.loop.time() + self.controllers.clock.real_seconds(sim_seconds)
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = self.loop.call_at(when, self._fire, key)

    def _fire(self, key: WorkKey) -> None:
        self._timers.pop(key, None)
        self._add_all([key])

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            done = 0
            while self._queue:
                key = self._queue.popleft()
                self._queued.discard(key)
                self._run(key)
                done += 1
                if done % 20 == 0:
                    await asyncio.sleep(0)  # let the API server answer in between

    def _run(self, key: WorkKey) -> None:
        try:
            wait = self.controllers.sync(key)
        except Exception:
            log.exception("sync %s failed", key)
            wait = ERROR_RETRY
        if wait is not None:
            self._add_later(key, wait)


class Settler:
    """Collects store events while a scenario writes, then syncs to a fixed point."""

    def __init__(self, controllers: Controllers, max_rounds: int = 8) -> None:
        self.controllers, self.max_rounds = controllers, max_rounds
        self._events: deque[WorkKey] = deque()
        self._lock = threading.Lock()

    def __enter__(self) -> Settler:
        store = self.controllers.store
        self._unsubscribe = [store.subscribe(by_kind(kind), None, self._collector(kind))
                             for kind in WATCHED_KINDS]
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.run()
        finally:
            for unsubscribe in self._unsubscribe:
                unsubscribe()

    def seed_all(self) -> None:
        store = self.controllers.store
        with store.lock:
            for kind in WATCHED_KINDS:
                for obj in store.list(by_kind(kind)):
                    self._events.extend(self.controllers.keys_for(kind, "ADDED", obj))

    def _collector(self, kind: str) -> Callable[[str, Obj], None]:
        def callback(event: str, obj: Obj) -> None:
            self._events.extend(self.controllers.keys_for(kind, event, obj))
        return callback

    def run(self) -> None:
        deferred: list[WorkKey] = []
        for _ in range(self.max_rounds):
            self._drain(deferred)
            if not deferred:
                return
            self._events.extend(deferred)
            deferred = []

    def _drain(self, deferred: list[WorkKey]) -> None:
        """Sync until no key is left, pods before their owners before theirs, so a
        ReplicaSet that just created ten pods is synced once after all ten started."""
        queues: dict[str, deque[WorkKey]] = {name: deque() for name in PRIORITY}
        queued: set[WorkKey] = set()
        while True:
            while self._events:
                key = self._events.popleft()
                if key not in queued:
                    queued.add(key)
                    queues[key[0]].append(key)
            queue = next((q for q in queues.values() if q), None)
            if queue is None:
                return
            key = queue.popleft()
            queued.discard(key)
            wait = self.controllers.sync(key, instant=True)
            if wait is not None and key[0] in RETRYING and key not in deferred:
                deferred.append(key)
