"""One check of a run: health, sidecar census, both control planes, HPAs and the gates.

The scheduler posts one of these into the run's thread every `check_interval` while a canary
soaks; the card enables Complete only when `complete_blockers` is empty. Reading only: a check
never changes the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot.upgrade.cluster_facts import Census, HealthReport, HpaPair, RevisionPlane
from bot.upgrade.phases import RunKind
from bot.upgrade.plan import Observation, Settings, leftovers, unhealthy
from bot.upgrade.records import Run
from bot.workflow.ports import Adapters


@dataclass(frozen=True)
class CheckReport:
    run_id: int
    phase: str
    at: datetime
    health: HealthReport
    census: Census
    planes: tuple[RevisionPlane, ...]
    hpas: tuple[HpaPair, ...]
    complete_blockers: tuple[str, ...]  # empty: Complete may be offered
    rollback_leftovers: tuple[str, ...]  # what still uses the new revision

    @property
    def complete_enabled(self) -> bool:
        return not self.complete_blockers


def take_check(run: Run, adapters: Adapters, settings: Settings) -> CheckReport:
    c = adapters.cluster
    seen = Observation(c.namespaces.injection(), c.census.take(), c.tags.list_tags())
    scope = sorted(ns for ns in seen.census.by_namespace if settings.in_scope(ns))
    health = c.health.check(scope, run.updated_at)
    revisions = tuple(dict.fromkeys((run.from_rev, run.to_rev)))
    planes = tuple(c.control_plane.status(r) for r in revisions)
    minor = run.kind is RunKind.MINOR
    hpas = c.hpas.compare(run.from_rev, run.to_rev) if minor else ()
    blockers = (*leftovers(run.from_rev, seen), *unhealthy(health)) if minor else ()
    back = leftovers(run.to_rev, seen, {settings.canary_tag}) if minor else ()
    return CheckReport(run.id, run.phase.value, datetime.now(UTC), health, seen.census, planes,
                       hpas, blockers, back)
