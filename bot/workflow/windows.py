"""Change windows in a run: a step that disturbs traffic (the start's ARM PUT, each restart
wave, Complete's and the rollback's ARM PUT) runs only inside the cluster's window; outside
one the run waits, and the card says for what and when the next window opens. Plans, checks and
approvals go on at any time. A rollback may run outside a window after an approver chose
"roll back now" with a reason (OVERRIDE, audited).

The wait is a pause the bot ends by itself (bot/workflow/steps.py `in_window`), so the card
says what the run waits for and Cancel or Roll back stay possible meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config.settings import ClusterConfig
from bot.schedule.maintenance import MaintenanceConfig, overlaps
from bot.store.repository import Store
from bot.upgrade.errors import MeshUpgradeError
from bot.upgrade.phases import Phase
from bot.upgrade.records import Run
from bot.workflow.ports import MeshPort

OVERRIDE = "window.override"  # run-wide step state: a person's rollback now, with a reason
LONGEST_SLEEP = 300.0  # seconds: look again at least this often (a config reload, a clock jump)
# How long a run is taken to last past its soak, when warning of AKS maintenance meanwhile.
RUN_MARGIN = timedelta(hours=2)


@dataclass(frozen=True)
class WindowWait:
    what: str  # "wave 2 of 6", "the ARM change"
    opens_at: datetime | None  # None: no window within the horizon
    freeze: str  # the freeze's reason, when one closes the window now
    delay: float  # seconds until it is worth looking again

    def text(self) -> str:
        why = f" (frozen: {self.freeze})" if self.freeze else ""
        when = f"opens at {self.opens_at:%a %d %b %H:%M} UTC" if self.opens_at \
            else "no window opens in the next year: check change_windows"
        return f"waiting for the change window to run {self.what}{why}: it {when}"

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "freeze": self.freeze,
                "opens_at": self.opens_at.isoformat() if self.opens_at else None}


def closed(store: Store, run: Run, config: ClusterConfig, now: datetime, what: str
           ) -> WindowWait | None:
    """None when `what` may run now; else what the run waits for."""
    if config.change_windows is None or _rollback_now(store, run):
        return None
    windows = config.change_windows.windows()
    opens = windows.next_open(now)
    if opens == now:
        return None
    frozen = windows.freeze_at(now)
    delay = LONGEST_SLEEP if opens is None else \
        min(max((opens - now).total_seconds(), 1.0), LONGEST_SLEEP)
    return WindowWait(what, opens, frozen.reason if frozen else "", delay)


def _rollback_now(store: Store, run: Run) -> bool:
    return run.phase is Phase.ROLLING_BACK and store.step(run.id, OVERRIDE) is not None


def maintenance_notes(mesh: MeshPort, config: ClusterConfig, now: datetime,
                      start: datetime | None = None) -> tuple[str, ...]:
    """AKS planned maintenance that falls within a run taken to begin at `start` (None: when
    the change window next lets it, or now) and last its soak plus RUN_MARGIN: what AKS may
    do to the cluster then. A configuration that cannot be read is a note too, never a stop."""
    try:
        configs: Iterable[MaintenanceConfig] = mesh.maintenance()
    except MeshUpgradeError as exc:
        return (f"Could not read the cluster's AKS planned-maintenance windows: {exc.message}",)
    if start is None:
        windows = config.change_windows.windows() if config.change_windows else None
        start = (windows.next_open(now) if windows else None) or now
    end = start + config.soak_time + RUN_MARGIN
    return tuple(f"AKS planned maintenance ({o.config}) runs {o.start:%a %d %b %H:%M} to "
                 f"{o.end:%a %d %b %H:%M} UTC, within this run's likely time (to about "
                 f"{end:%a %H:%M} UTC): {o.what}" for o in overlaps(configs, start, end))
