"""One lock per run, so that this process decides about one run at a time (clicks, card edits).

Across processes the store's optimistic version decides; these locks only order the threads of
one process, and live as long as the object that owns them (no module state).
"""

from __future__ import annotations

import threading


class RunLocks:
    def __init__(self) -> None:
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, run_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(run_id, threading.Lock())
