"""The workflow's events as log lines and metrics: how `kubectl logs` tells the story of a run.

Each event is one record of the `bot.events` logger, which the JSON formatter writes with its
`event`, `run_id`, `cluster`, `phase`, `user` and `detail` (bot/runtime/logs.py). Failures are
WARNING, the rest INFO, except a run looked at again while it waits (the same step with the
same wait, the same gate verdict), which is DEBUG: a soak or an ARM operation logs once, not
at every look. Long lists in a detail are cut to their first MAX_ITEMS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from bot.runtime.metrics import Metrics
from bot.upgrade.kinds import FAILURES, AuditKind
from bot.upgrade.phases import Phase, is_terminal
from bot.workflow.events import RunEvent, StepEvent

EVENTS_LOGGER = "bot.events"
MAX_ITEMS = 20
_NO_WAIT = "no"


class EventLog:
    """The Workflow's event sink in the running bot (and in any tool that wants its log)."""

    def __init__(self, metrics: Metrics | None = None,
                 logger: logging.Logger | None = None) -> None:
        self._metrics = metrics
        self._log = logger or logging.getLogger(EVENTS_LOGGER)
        self._lock = threading.Lock()
        self._waiting: dict[tuple[int, str], tuple[Any, ...]] = {}  # what a run's last look
        # (a step, a gate) waited for

    def __call__(self, event: RunEvent) -> None:
        level = self._level(event)
        if self._log.isEnabledFor(level):
            self._log.log(level, "%s", sentence(event), extra={
                "event": event.event, "run_id": event.run_id, "cluster": event.cluster,
                "phase": event.phase, "user": event.user, "detail": compact(event.detail)})
        if self._metrics is not None:
            self._metrics.observe_event(event)
        if event.event == AuditKind.PHASE_CHANGED and event.phase and \
                is_terminal(Phase(event.phase)):
            with self._lock:  # nothing looks at the run again
                for slot in [s for s in self._waiting if s[0] == event.run_id]:
                    del self._waiting[slot]

    def _level(self, event: RunEvent) -> int:
        if event.event in FAILURES or (event.event == AuditKind.PHASE_CHANGED
                                       and event.phase == Phase.FAILED):
            return logging.WARNING
        return logging.DEBUG if self._repeats(event) else logging.INFO

    def _repeats(self, event: RunEvent) -> bool:
        """Whether the event only says again what the run's previous look said."""
        if event.run_id is None:
            return False
        finished = (event.run_id, StepEvent.STEP_FINISHED)
        with self._lock:
            if event.event == StepEvent.STEP_STARTED:
                before = self._waiting.get(finished)
                return before is not None and before[0] == event.phase
            if event.event not in (StepEvent.STEP_FINISHED, StepEvent.GATE):
                return False
            slot, key = (event.run_id, event.event), _wait_key(event)
            before = self._waiting.pop(slot, None)
            if key is not None:  # still waiting: remember what for
                self._waiting[slot] = key
            return key is not None and before == key


def _wait_key(event: RunEvent) -> tuple[Any, ...] | None:
    """What a waiting step or a gate that is not passed says, to compare with the next look."""
    d = event.detail
    if event.event == StepEvent.STEP_FINISHED and d.get("wait") != _NO_WAIT:
        return (event.phase, d.get("step"), d.get("wait"))
    if event.event == StepEvent.GATE and d.get("verdict") != "passed":
        return (event.phase, d.get("gate"), d.get("verdict"))
    return None


def sentence(event: RunEvent) -> str:
    """One line for people: `run 3 on aks-prod: rolling -> verifying: every wave rolled out`."""
    d, what = event.detail, event.what
    if event.event == AuditKind.PHASE_CHANGED:
        what = f"{d.get('from', '?')} -> {event.phase}: {d.get('why', '')}"
    elif event.event == StepEvent.STEP_FINISHED:
        what = f"step {d.get('step')} of {event.phase} took {float(d.get('seconds', 0)):.3f} s: " \
               f"{event.what}"
    by = f" (by {event.user})" if event.user else ""
    return f"run {event.run_id} on {event.cluster}: {what}{by}"


def compact(value: Any) -> Any:
    """`value` with every list longer than MAX_ITEMS cut, saying how many were left out."""
    if isinstance(value, Mapping):
        return {str(k): compact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [compact(v) for v in value[:MAX_ITEMS]]
        left = len(value) - MAX_ITEMS
        return [*items, f"... {left} more"] if left > 0 else items
    return value
