"""Long-running operations, as ARM reports them through the `Azure-AsyncOperation` URL.

An operation is InProgress for a simulated duration, then Succeeded or Failed. Failures are
queued by tests (`fail_next`): the next operation to start takes the first queued failure.
The status body is the one ARMPolling reads: `name`, `status`, `startTime`, `endTime`, `error`.
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass

from meshsim.arm.rp import JSON
from meshsim.clock import SimClock

# The api-version AKS puts on its operation status URLs (aks-arm.md §1, real wire traffic).
STATUS_API_VERSION = "2016-03-30"


@dataclass
class Operation:
    id: str
    cluster: tuple[str, str, str]
    subscription_id: str
    location: str
    revisions: list[str]  # the goal this operation applies to the cluster
    start_time: float
    status: str = "InProgress"
    end_time: float | None = None
    error: JSON | None = None
    failure: JSON | None = None  # a queued failure this operation will end with

    def status_body(self, clock: SimClock) -> JSON:
        body: JSON = {
            "name": self.id,
            "status": self.status,
            "startTime": clock.rfc3339(self.start_time),
        }
        if self.end_time is not None:
            body["endTime"] = clock.rfc3339(self.end_time)
        if self.error is not None:
            body["error"] = dict(self.error)
        return body

    def status_path(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/providers/Microsoft.ContainerService"
            f"/locations/{self.location}/operations/{self.id}?api-version={STATUS_API_VERSION}"
        )


class Operations:
    """Every operation ever started, and the failures queued for the next ones."""

    def __init__(self, clock: SimClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds  # simulated duration of every operation
        self._ops: dict[str, Operation] = {}
        self._failures: deque[JSON] = deque()
        self._lock = threading.Lock()

    def fail_next(self, code: str, message: str) -> None:
        with self._lock:
            self._failures.append({"code": code, "message": message})

    def start(
        self,
        cluster: tuple[str, str, str],
        subscription_id: str,
        location: str,
        revisions: list[str],
    ) -> Operation:
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
            op = Operation(
                str(uuid.uuid4()),
                cluster,
                subscription_id,
                location,
                list(revisions),
                self.clock.now(),
                failure=failure,
            )
            self._ops[op.id.lower()] = op
        return op

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            return self._ops.get(op_id.lower())

    def end(self, op: Operation, error: JSON | None) -> None:
        with self._lock:
            op.end_time = self.clock.now()
            op.error = error
            op.status = "Failed" if error else "Succeeded"
