"""Moves fleet runs along on the scheduler's frequent tick.

A fleet is looked at when something may have changed for it: one of its clusters' runs took a
step (`poke`, from the run driver), its own run changed (a click, here or on another replica),
or a time it waits for came (a ring's soak). Its card is edited only when what it shows changed.
So a tick costs one query for the active fleet runs, plus work for the fleets and clusters
that move: never a look at every cluster of every fleet.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from bot.slack.fleet.notifier import FleetNotifier
from bot.upgrade.errors import MeshUpgradeError
from bot.workflow.fleet.people import FleetWorkflow
from bot.workflow.fleet.records import FleetLook

log = logging.getLogger(__name__)


class FleetPilot:
    def __init__(self, fleets: FleetWorkflow, notifier: FleetNotifier) -> None:
        self.fleets, self.notifier = fleets, notifier
        self._poked: set[int] = set()
        self._seen: dict[int, int] = {}  # fleet run id -> version last looked at
        self._due: dict[int, datetime] = {}
        self._shown: dict[int, tuple[object, ...]] = {}  # fleet run id -> card fingerprint
        self._lock = threading.Lock()
        self.looks = 0  # fleets advanced since start (bench/fleet.py reads it)
        self.on_look: Callable[[FleetLook], None] = lambda _look: None  # the fleet's jobs

    def poke(self, fleet_run_id: int) -> None:
        """Look at this fleet at the next tick (one of its clusters' runs moved)."""
        with self._lock:
            self._poked.add(fleet_run_id)

    def tick(self) -> None:
        now = self.fleets.now()
        with self._lock:
            poked, self._poked = self._poked, set()
        active = self.fleets.store.active_runs()
        for run in active:
            due = self._due.get(run.id)
            if run.id in poked or self._seen.get(run.id) != run.version or \
                    (due is not None and due <= now):
                self.move(run.id)
        for over in poked - {run.id for run in active}:  # a finished fleet's card still owed
            self.move(over)

    def after_change(self, fleet_run_id: int, leading: bool) -> None:
        """A person (or a reminder) changed the fleet or its thread: the leader moves it on
        now; a follower (which drives nothing) only brings the card and thread up to date, and
        the leader's next tick does the rest."""
        if leading:
            self.move(fleet_run_id, always=True)
            return
        look = self.fleets.look(fleet_run_id)
        self.notifier.sync(look)

    def move(self, fleet_run_id: int, always: bool = False) -> FleetLook | None:
        """Advance the fleet once and bring its card up to date (`always`: and its thread,
        which a refusal or a reminder adds to without changing the fleet); errors wait for
        next time."""
        try:
            look = self.fleets.advance(fleet_run_id)
            self.looks += 1
        except MeshUpgradeError as exc:
            log.warning("fleet run %s: %s", fleet_run_id, exc)
            self.poke(fleet_run_id)
            return None
        self._seen[fleet_run_id] = look.run.version
        self.on_look(look)
        if look.due is not None:
            self._due[fleet_run_id] = look.due
        else:
            self._due.pop(fleet_run_id, None)
        if always or self._shown.get(fleet_run_id) != look.fingerprint:
            try:
                self.notifier.sync(look)
                self._shown[fleet_run_id] = look.fingerprint
            except Exception as exc:  # Slack failing: the card stays owed (poked again)
                log.warning("fleet run %s: card not updated: %s", fleet_run_id, exc)
                self.poke(fleet_run_id)
                return look
        if look.run.over:  # nothing looks at it again: forget it
            for seen in (self._seen, self._shown, self._due):
                seen.pop(fleet_run_id, None)
        return look
