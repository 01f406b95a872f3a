"""Moves runs forward without anyone clicking between the automatic steps.

A small pool of worker threads calls the engine's `advance(run_id)` until the run waits; one
run is driven by at most one thread of this process at a time. `poke(run)` after a click starts
at once; `tick()` (the scheduler's frequent `drive-runs` job) picks up every active run whose
wait is over, so a restarted bot carries on with the runs it finds in the store. After each
step the card and thread are synced and the run's scheduled jobs reconciled. With several
replicas only the leader drives: `pause()` (the Lease is lost) makes pokes no-ops and ends each
running drive after its current step; `resume()` undoes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from bot.runtime.logs import log_context
from bot.upgrade.errors import MeshUpgradeError
from bot.upgrade.records import Run
from bot.workflow.runner import Workflow
from bot.workflow.steps import StepResult, Wait

log = logging.getLogger(__name__)
MAX_STEPS = 40  # steps in one go before the thread lets other runs have a turn
IDLE_RECHECK = 30.0  # a run waiting for people is looked at again this often anyway

OnStep = Callable[[Run, Run], None]  # (before, after)


class Driver:
    def __init__(self, workflow: Workflow, on_step: OnStep, workers: int = 4,
                 max_wait: float = IDLE_RECHECK,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.workflow, self._on_step, self._clock = workflow, on_step, clock
        self.max_wait = max_wait  # the sandbox and tests look sooner than production
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="driver")
        self._busy: set[int] = set()
        self._due: dict[int, float] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._active = threading.Event()
        self._active.set()

    def poke(self, run_id: int) -> None:
        """Drive `run_id` now (unless a thread already does)."""
        with self._lock:
            if self._closed or not self._active.is_set() or run_id in self._busy:
                return
            self._busy.add(run_id)
        self._pool.submit(self._drive, run_id)

    def tick(self) -> None:
        now = self._clock()
        for run in self.workflow.store.active_runs():
            if self._due.get(run.id, 0.0) <= now:
                self.poke(run.id)

    def pause(self) -> None:
        self._active.clear()

    def resume(self) -> None:
        self._active.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _drive(self, run_id: int) -> None:
        try:
            with log_context(run_id=run_id):
                self._steps(run_id)
        except MeshUpgradeError as exc:
            log.warning("run %s: %s", run_id, exc)
            self._due[run_id] = self._clock() + 5.0
        except Exception:
            log.exception("run %s: driving failed", run_id)
            self._due[run_id] = self._clock() + 10.0
        finally:
            with self._lock:
                self._busy.discard(run_id)

    def _steps(self, run_id: int) -> None:
        before = self.workflow.store.get_run(run_id)
        with log_context(cluster=before.cluster):
            self._run_steps(run_id, before)

    def _run_steps(self, run_id: int, before: Run) -> None:
        self._on_step(before, before)
        for _ in range(MAX_STEPS):
            if not self._active.is_set():
                return
            result = self.workflow.advance(run_id)
            after = self.workflow.store.get_run(run_id)
            if result.wait is Wait.NO or after.version != before.version:
                self._on_step(before, after)
            before = after
            if result.wait is not Wait.NO:
                self._due[run_id] = self._clock() + _delay(result, self.max_wait)
                return
        self._due[run_id] = self._clock()


def _delay(result: StepResult, most: float) -> float:
    if result.wait in (Wait.TIME, Wait.OPERATION):
        return max(min(result.delay, most), 0.05)
    return most
