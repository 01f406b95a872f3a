"""One check of a run, or of a cluster without one: health, sidecar census, both control
planes, HPAs and the gates.

The scheduler posts one of these into the run's thread every `check_interval` while a canary
soaks; the card enables Complete only when `complete_blockers` is empty. Unhealthy workloads
without a sidecar and finished pods are reported, never blocking. Reading only: a check never
changes the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.store.repository import Store
from bot.traffic.verdicts import Verdict
from bot.upgrade.cluster_facts import Census, HealthReport, HpaPair, RevisionPlane
from bot.upgrade.phases import RunKind
from bot.upgrade.plan import Settings, leftovers
from bot.upgrade.pod_notes import finished_notes
from bot.upgrade.readiness import HealthVerdict, judge_health, unhealthy
from bot.upgrade.records import Run
from bot.workflow.ports import Adapters, observe

# A check outside a run counts the restarts of the last hour.
CLUSTER_CHECK_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class CheckSubject:
    """What a check is about: a run's two revisions, or one revision of a cluster."""

    run_id: int  # 0: no run
    phase: str
    from_rev: str
    to_rev: str
    canary: bool  # a minor upgrade: gates, HPAs and leftovers are judged
    since: datetime  # restarts are counted from here

    @classmethod
    def of(cls, run: Run) -> CheckSubject:
        return cls(run.id, run.phase.value, run.from_rev, run.to_rev,
                   run.kind is RunKind.MINOR, run.updated_at)

    @classmethod
    def cluster(cls, revision: str, now: datetime) -> CheckSubject:
        return cls(0, "", revision, revision, False, now - CLUSTER_CHECK_WINDOW)


@dataclass(frozen=True)
class TrafficCheck:
    """The moved workloads' traffic now, against their baselines (bot/workflow/traffic.py)."""

    verdict: Verdict
    window_seconds: float
    source: str


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
    verdict: HealthVerdict  # which unhealthy workloads block
    notes: tuple[str, ...]  # finished pods still annotated: reported, never blocking
    traffic: TrafficCheck | None = None  # None: no traffic gates, or nothing moved yet
    maintenance: tuple[str, ...] = ()  # AKS planned maintenance within the run's likely time

    @property
    def complete_enabled(self) -> bool:
        return not self.complete_blockers


def take_check(subject: CheckSubject, adapters: Adapters, settings: Settings) -> CheckReport:
    c = adapters.cluster
    seen = observe(c)
    scope = sorted(ns for ns in seen.census.by_namespace if settings.in_scope(ns))
    health = c.check_health(scope, subject.since)
    verdict = judge_health(health, seen.census, seen.injections)
    revisions = tuple(dict.fromkeys((subject.from_rev, subject.to_rev)))
    planes = tuple(c.plane_status(r) for r in revisions)
    canary = subject.canary
    hpas = c.compare_hpas(subject.from_rev, subject.to_rev) if canary else ()
    blockers = (*leftovers(subject.from_rev, seen), *unhealthy(verdict.blocking)) \
        if canary else ()
    back = leftovers(subject.to_rev, seen, {settings.canary_tag}) if canary else ()
    return CheckReport(subject.run_id, subject.phase, datetime.now(UTC), health, seen.census,
                       planes, hpas, blockers, back, verdict, finished_notes(seen.census))


CHECK_TALLY = "checks.tally"  # step key: how many scheduled checks passed and failed


def tally_check(store: Store, run_id: int, failed: bool) -> None:
    """Count one scheduled check of the run (the fleet card's evidence for promotion)."""
    tally = dict(store.step(run_id, CHECK_TALLY) or {"passed": 0, "failed": 0})
    tally["failed" if failed else "passed"] += 1
    store.put_step(run_id, CHECK_TALLY, tally)
