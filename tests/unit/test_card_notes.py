"""What the card and the check say about a lived-in cluster: sidecar modes per revision, running
Job pods and finished pods, and unhealthy workloads without a sidecar marked as not blocking
(and never a loud failure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.slack.blocks import render_report, to_dicts
from bot.slack.card import CardView, render_card
from bot.slack.reports import CheckView, WorkloadProblem, check_report
from bot.slack.views import CardFacts, card_notes, check_failed, check_view
from bot.upgrade.cluster_facts import (
    Census,
    Component,
    FinishedPods,
    HealthReport,
    RevisionPlane,
    WorkloadHealth,
    WorkloadRef,
    WorkloadSidecars,
)
from bot.upgrade.phases import Phase, RunKind
from bot.upgrade.readiness import HealthVerdict
from bot.upgrade.records import Run
from bot.workflow.checks import CheckReport
from meshsim.slack.blockkit import validate
from tests.unit.test_blocks import all_text

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
OLD, NEW = "asm-1-27", "asm-1-28"
EVICTED = ("1 evicted pod still shows asm-1-27; it goes when deleted (kubectl delete pods -n "
           "shop --field-selector=status.phase=Failed); not blocking")


def text_of(blocks: list[Any]) -> str:
    payload = to_dicts(blocks)
    assert validate(payload) == []
    return all_text(payload)


def test_the_card_shows_sidecar_modes_and_what_needs_a_person() -> None:
    notes = tuple(f"note {i}" for i in range(8))
    view = CardView(run_id=1, version=2, cluster="aks-prod", from_rev=OLD, to_rev=NEW,
                    phase=Phase.VERIFYING, census_by_revision={OLD: 41, NEW: 3},
                    census_modes={OLD: {"classic": 41}, NEW: {"native": 3}}, notes=notes)

    text = text_of(render_card(view))

    assert "*Sidecar modes:* asm-1-27: 41 classic · asm-1-28: 3 native" in text
    assert "Needs a person, not the bot" in text and "• note 5" in text
    assert "• note 6" not in text and "• and 2 more: see the last check in the thread" in text


def test_a_check_marks_workloads_without_a_sidecar_as_not_blocking() -> None:
    view = CheckView("aks-prod", T0, OLD, NEW, workloads=4, healthy=3,
                     problems=(WorkloadProblem("gatekeeper-system/deployment/audit",
                                               "0/1 available", blocking=False),),
                     census_by_revision={NEW: 9}, census_modes={NEW: {"native": 9}},
                     notes=("3 finished Job pods still show asm-1-27; they go when deleted",))

    text = text_of(render_report(check_report(view)))

    assert ("Healthy, and every workload is on asm-1-28. (1 more without a sidecar, not "
            "blocking)") in text
    assert "`gatekeeper-system/deployment/audit`: 0/1 available; not blocking: it has no " \
           "sidecar" in text
    assert "sidecar modes: asm-1-28: 9 native" in text
    assert ":information_source: 3 finished Job pods still show asm-1-27" in text


def report_with(unhealthy: tuple[WorkloadHealth, ...], verdict: HealthVerdict) -> CheckReport:
    job = WorkloadRef("Job", "shop", "backup")
    census = Census(2, 2, {OLD: 2}, {}, {"shop": {OLD: 2}},
                    {job: WorkloadSidecars(job, 1, 0, 0, {OLD: 1}, {}, 0, 1)}, {}, (), 1,
                    (FinishedPods(OLD, "Evicted", "Failed", 1, ("shop",)),),
                    {OLD: {"classic": 1, "native": 1}})
    ready = Component("istiod", "aks-istio-system", 1, 1, "1/1 ready")
    return CheckReport(7, "verifying", T0, HealthReport(T0, unhealthy), census,
                       (RevisionPlane(OLD, ready, ()),), (), (), (), verdict, (EVICTED,))


def run_in(phase: Phase, kind: RunKind = RunKind.MINOR) -> Run:
    return Run(7, "aks-prod", kind, OLD, NEW, phase, "U0ALICE", {}, {}, None, None, 3, T0, T0)


def test_views_keep_a_check_quiet_for_workloads_without_a_sidecar() -> None:
    audit = WorkloadHealth(WorkloadRef("Deployment", "gatekeeper-system", "audit"), 1, 0)
    quiet = report_with((audit,), HealthVerdict((), (audit,)))
    loud = report_with((audit,), HealthVerdict((audit,), ()))

    view = check_view("aks-prod", (OLD, NEW), quiet)
    notes = card_notes(quiet, run_in(Phase.VERIFYING))

    assert not check_failed(quiet) and check_failed(loud)
    assert [p.blocking for p in view.problems] == [False]
    assert view.census_modes == {OLD: {"classic": 1, "native": 1}}
    assert notes[0].startswith("job/backup -n shop: 1 running Job pod on asm-1-27 would lose "
                               "its control plane")
    assert notes[1].startswith("deployment/audit -n gatekeeper-system unhealthy (0/1 "
                               "available): not blocking")
    assert notes[2] == EVICTED


def test_job_notes_follow_the_revision_the_run_removes() -> None:
    report = report_with((), HealthVerdict((), ()))

    rolling_back = card_notes(report, run_in(Phase.ROLLING_BACK))  # the Job runs on OLD
    over = card_notes(report, run_in(Phase.COMPLETED))

    assert rolling_back == over == (EVICTED,)
    assert card_notes(report, run_in(Phase.AWAITING_DECISION))[0].startswith("job/backup")


def test_card_facts_keep_modes_and_notes_through_the_store() -> None:
    facts = CardFacts(by_revision={OLD: 3}, modes={OLD: {"classic": 3}}, notes=("a", "b"))
    assert CardFacts.from_json(facts.to_json()) == facts
    assert CardFacts.from_json({"by_revision": {OLD: 1}}).notes == ()  # facts stored before
