"""The engine's records turned into the plain views that bot/slack/ render.

Pure mapping, no I/O: a run and what the store knows about it become a CardView; a CheckReport
a CheckView; a census, tags or a plan their report views. The card's cluster facts (control
planes, census) are not read here: the notifier keeps the last ones seen as `CardFacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from bot.slack.card import ApprovalView, CardView, PendingApproval, PlaneStatus, TrafficLine
from bot.slack.reports import (
    CheckView,
    HpaSide,
    HpaView,
    PlanView,
    SidecarRow,
    SidecarsView,
    TagsView,
    TagView,
    TrafficView,
    WorkloadProblem,
)
from bot.upgrade.cluster_facts import (
    Census,
    HpaSpec,
    NamespaceInjection,
    RevisionPlane,
    RevisionTag,
)
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase, RunKind, is_terminal
from bot.upgrade.plan import Plan
from bot.upgrade.pod_notes import finished_notes, job_notes
from bot.upgrade.readiness import not_blocking
from bot.upgrade.records import AuditEntry, Run
from bot.workflow.checks import CheckReport

_ACTIONS = frozenset(a.value for a in Action)
_WAVE_PHASES = frozenset({Phase.ROLLING, Phase.ROLLING_BACK, Phase.PATCH_RESTARTING})


@dataclass(frozen=True)
class CardFacts:
    """What the card shows of the cluster, as last observed (kept in the store as JSON)."""

    planes: tuple[PlaneStatus, ...] = ()
    by_revision: Mapping[str, int] = field(default_factory=dict)
    by_version: Mapping[str, int] = field(default_factory=dict)
    next_check_at: str | None = None
    modes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # rev -> mode -> pods
    notes: tuple[str, ...] = ()  # what needs a person, from the last check (`card_notes`)

    def to_json(self) -> dict[str, Any]:
        return {"planes": [asdict(p) for p in self.planes], "by_revision": dict(self.by_revision),
                "by_version": dict(self.by_version), "next_check_at": self.next_check_at,
                "modes": {r: dict(m) for r, m in self.modes.items()}, "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> CardFacts:
        if not data:
            return cls()
        return cls(tuple(PlaneStatus(**p) for p in data.get("planes", ())),
                   dict(data.get("by_revision", {})), dict(data.get("by_version", {})),
                   data.get("next_check_at"), dict(data.get("modes", {})),
                   tuple(data.get("notes", ())))


@dataclass(frozen=True)
class Need:
    """How many approvals an action needs, and since when it has been asked for."""

    action: Action
    have: int
    need: int
    expires_at: datetime | None
    expired: bool = False  # the request timed out: a click asks for it again


def plane_status(plane: RevisionPlane) -> PlaneStatus:
    return PlaneStatus(plane.revision, plane.istiod.ready, plane.istiod.desired,
                       sum(g.ready for g in plane.gateways),
                       sum(g.desired for g in plane.gateways))


def approvals_from_audit(entries: Iterable[AuditEntry]) -> tuple[ApprovalView, ...]:
    """Who approved what, from the audit's approvals, oldest first."""
    return tuple(ApprovalView(Action(e.detail["action"]), e.actor, e.at) for e in entries
                 if e.kind is AuditKind.APPROVED and e.detail.get("action") in _ACTIONS)


def left_from_audit(entries: Iterable[AuditEntry]) -> tuple[str, ...]:
    """What the run left for people to finish (a tag kept for namespaces out of scope)."""
    return tuple(e.what for e in entries if e.kind is AuditKind.TAG_KEPT)


def wave_progress(phase: Phase, steps: Mapping[str, Any]) -> tuple[int, int] | None:
    """(workloads done, workloads planned) of the latest visit of a restarting phase.

    Reads the engine's step notes (`<phase>.<visit>.waves`, `<phase>.<visit>.wave.<i>`)."""
    if phase not in _WAVE_PHASES:
        return None
    prefix = f"{phase.value}."
    visits = [k.split(".")[1] for k in steps if k.startswith(prefix) and k.endswith(".waves")]
    if not visits:
        return None
    visit = max(visits, key=int)
    planned = steps.get(f"{prefix}{visit}.waves") or {}
    waves: Sequence[Sequence[str]] = planned.get("waves", [])
    done = sum(len(w) for i, w in enumerate(waves)
               if (steps.get(f"{prefix}{visit}.wave.{i}") or {}).get("done"))
    return done, sum(len(w) for w in waves)


def traffic_line(steps: Mapping[str, Any]) -> TrafficLine | None:
    """The card's Traffic line from the run's step notes: `traffic.hold` while a gate holds
    the run (its `action`, roll or complete, is what it holds back), else `traffic.last`."""
    hold, last = steps.get("traffic.hold"), steps.get("traffic.last")
    if isinstance(hold, Mapping):
        held = Action.COMPLETE if hold.get("action") == Action.COMPLETE.value else Action.ROLL
        return TrafficLine(str(hold.get("label", "")), str(hold.get("outcome", "")),
                           str(hold.get("summary", "")), held)
    if isinstance(last, Mapping):
        at = last.get("at")
        return TrafficLine(str(last.get("label", "")), str(last.get("outcome", "")),
                           str(last.get("summary", "")), None,
                           datetime.fromisoformat(at) if isinstance(at, str) else None)
    return None


def card_view(run: Run, facts: CardFacts, approvals: tuple[ApprovalView, ...],
              needs: Sequence[Need], progress: tuple[int, int] | None,
              left: tuple[str, ...] = (), traffic: TrafficLine | None = None) -> CardView:
    pending = tuple(PendingApproval(n.action, n.have, n.need, n.expires_at, n.expired)
                    for n in needs if n.have or n.need > 1 or n.expired)
    next_check = datetime.fromisoformat(facts.next_check_at) if facts.next_check_at else None
    return CardView(run.id, run.version, run.cluster, run.from_rev, run.to_rev, run.phase,
                    run.kind, run.requested_by, run.pause_reason, run.pause_hint, progress,
                    facts.planes, facts.by_revision, facts.by_version, approvals, pending,
                    run.updated_at, next_check if run.phase is Phase.VERIFYING else None,
                    bool(run.plan.get("use_tags", True)), census_modes=facts.modes,
                    notes=facts.notes, left_for_people=left, traffic=traffic)


def check_view(cluster: str, revisions: tuple[str, str], report: CheckReport) -> CheckView:
    """`revisions`: (stable, canary) of a run, or a cluster's one revision twice."""
    quiet = set(report.verdict.not_blocking)
    problems = tuple(WorkloadProblem(str(w.workload), _problem(w.available, w.desired,
                                                               w.crashlooping), w not in quiet)
                     for w in report.health.unhealthy)
    healthy = len(report.health.workloads) - len(report.health.unhealthy)
    return CheckView(cluster, report.at, *revisions, len(report.health.workloads),
                     healthy, problems, dict(report.census.by_revision),
                     dict(report.census.by_version), report.complete_blockers,
                     tuple(plane_status(p) for p in report.planes),
                     tuple(HpaView(h.component, _side(h.stable), _side(h.canary))
                           for h in report.hpas),
                     {r: dict(m) for r, m in report.census.modes.items()},
                     (*report.maintenance, *report.notes),
                     _traffic(report))


def _traffic(report: CheckReport) -> TrafficView | None:
    t = report.traffic
    return None if t is None else TrafficView(t.verdict, t.window_seconds, t.source)


def card_notes(report: CheckReport, run: Run) -> tuple[str, ...]:
    """The card's "needs a person" lines after a check: AKS planned maintenance within the
    run, running Job pods the run cannot move, unhealthy workloads without a sidecar,
    finished pods still annotated."""
    jobs, finished = census_notes(report.census, run)
    return (*report.maintenance, *jobs, *not_blocking(report.verdict.not_blocking), *finished)


def census_notes(census: Census, run: Run) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the census alone tells a person: (running Job pods, finished pods). Job pods
    matter on the revision a canary removes (the new one while rolling back) and, in a patch
    run, when outdated; once a run is over, not at all."""
    if is_terminal(run.phase):
        jobs: tuple[str, ...] = ()
    elif run.kind is not RunKind.MINOR:
        jobs = job_notes(census, run.to_rev)
    else:
        removed = run.to_rev if run.phase is Phase.ROLLING_BACK else run.from_rev
        jobs = job_notes(census, removed, removing=True)
    return jobs, finished_notes(census)


def check_failed(report: CheckReport) -> bool:
    """Loud: a meshed workload unhealthy or crash-looping, or a control plane not ready.
    A workload without a sidecar is the upgrade's business only as a note."""
    return bool(report.verdict.blocking) or not all(p.ready for p in report.planes)


def _problem(available: int, desired: int, looping: Sequence[str]) -> str:
    parts = [f"{available}/{desired} available"] + [f"{c} CrashLoopBackOff" for c in looping[:3]]
    return ", ".join(parts)


def _side(spec: HpaSpec | None) -> HpaSide | None:
    return None if spec is None else HpaSide(spec.min_replicas, spec.max_replicas, spec.metrics)


def plan_view(plan: Plan, offered: Sequence[str]) -> PlanView:
    warnings = tuple(plan.notes)
    return PlanView(plan.cluster, plan.current, plan.target, tuple(offered),
                    plan.shared_config[0], plan.use_tags, plan.tag_lines(),
                    tuple(m.namespace for m in plan.moves),
                    tuple(f"{w.namespace}/{w.kind}/{w.name}" for wave in plan.waves
                          for w in wave), warnings)


def sidecars_view(cluster: str, census: Census, expected: str | None,
                  namespace: str | None) -> SidecarsView:
    rows = tuple(SidecarRow(f"{w.workload.namespace}/{w.workload.kind}/{w.workload.name}",
                            dict(w.revisions), dict(w.versions))
                 for w in census.by_workload.values() if sum(w.revisions.values()))
    return SidecarsView(cluster, rows, expected, namespace)


def tags_view(cluster: str, tags: Sequence[RevisionTag],
              injections: Sequence[NamespaceInjection]) -> TagsView:
    direct: dict[str, list[str]] = {}
    for ns in injections:
        if ns.tag is None and ns.revision is not None:
            direct.setdefault(ns.revision, []).append(ns.name)
    return TagsView(cluster, tuple(TagView(t.tag, t.revision, t.namespaces) for t in tags if t.tag),
                    {r: tuple(sorted(n)) for r, n in direct.items()})
