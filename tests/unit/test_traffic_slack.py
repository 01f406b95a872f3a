"""The traffic gates in Slack: each verdict reads as a person would write it, with the
workloads, their figures and what happens next; a breach gets a deterministic chart whose alt
text names the worst workload; the card says what holds the run and relabels Roll
"Continue…"; and a check shows the moved workloads' traffic within Slack's limits."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.slack.blocks import render_report, to_dicts
from bot.slack.buttons import ACTION_IDS
from bot.slack.card import CardView, render_card
from bot.slack.charts.census import ALT_TEXT_LIMIT
from bot.slack.charts.traffic import traffic_alt_text, traffic_chart
from bot.slack.reports import CheckView, TrafficView, check_report
from bot.slack.views import traffic_line
from bot.slack.wording.phrases import Subject
from bot.slack.wording.runs import reply_of, say
from bot.slack.wording.traffic import traffic_verdict
from bot.traffic.signals import Signals, WorkloadKey
from bot.traffic.verdicts import Outcome, Thresholds, Verdict, compare
from bot.upgrade.kinds import AuditKind
from bot.upgrade.phases import Action, Phase
from bot.upgrade.records import AuditEntry
from tests.unit.test_blocks import all_text, buttons, valid
from tests.unit.test_wording import block_text, problems

T0 = datetime(2026, 12, 4, 19, 41, 37, tzinfo=UTC)
SUBJECT = Subject("aks-prod", "asm-1-22", "asm-1-23")
PNG = b"\x89PNG\r\n\x1a\n"
REVIEWS, RATINGS, DETAILS, PAGE = (WorkloadKey("bookinfo", n) for n in (
    "reviews-v2", "ratings-v1", "details-v1", "productpage-v1"))
QUIET = Signals(40, 0, 12.0, 60)  # fewer than 100 requests: too little to judge


def healthy(rps: float = 50.0, p99: float = 80.0, errors: float = 0.0) -> Signals:
    return Signals(rps * 60, errors, p99, 60)


def verdict(before: dict[WorkloadKey, Signals], after: dict[WorkloadKey, Signals]) -> Verdict:
    return compare(before, after, before, Thresholds(), 60)


# reviews: 99.71 % -> 92.10 %, p99 245 -> 1,210 ms; details: +30 ms, within the thresholds
BREACHED = verdict(
    {REVIEWS: Signals(6000, 17.4, 245, 60), DETAILS: healthy(50, 20), PAGE: healthy(150, 80),
     RATINGS: QUIET},
    {REVIEWS: Signals(5900, 466.1, 1210, 60), DETAILS: healthy(50, 50), PAGE: healthy(150, 90),
     RATINGS: QUIET})
PASSED = verdict({w: healthy() for w in (REVIEWS, DETAILS, PAGE, WorkloadKey("shop", "cart"))}
                 | {RATINGS: QUIET},
                 {w: healthy(p99=85) for w in (REVIEWS, DETAILS, PAGE, WorkloadKey("shop", "cart"))}
                 | {RATINGS: QUIET})
SILENT = verdict({RATINGS: QUIET, DETAILS: QUIET}, {RATINGS: QUIET, DETAILS: QUIET})
FAILED = Verdict.unavailable("Prometheus answered 503 Service Unavailable")


def traffic_entry(v: Verdict, gate: str = "wave", **extra: Any) -> AuditEntry:
    detail = {"gate": gate, "wave": 2, "verdict": v.to_json(), "window_seconds": 60.0,
              "source": "Prometheus at http://prometheus.monitoring:9090",
              "on_breach": "propose", "held": not v.passed, **extra}
    if gate == "wave":
        detail["of"] = 5
    return AuditEntry(11, 7, "aks-prod", "bot", AuditKind.TRAFFIC_VERDICT,
                      f"traffic {v.outcome.value}", T0, detail)


def rendered(entry: AuditEntry) -> str:
    blocks, text = reply_of(entry, SUBJECT)
    shown = block_text(to_dicts(blocks))
    assert problems(shown) == [] and problems(text) == [], (shown, text)
    return shown


# --- the thread ------------------------------------------------------------------------------


def test_a_passed_wave_counts_the_passes_and_names_the_quiet_workloads() -> None:
    said = say(traffic_entry(PASSED), SUBJECT)
    assert said.sentence == ("Traffic held after wave 2 of 5: 4 workloads passed, 1 had too "
                             "little traffic to judge (`ratings-v1` in `bookinfo`).")
    assert "windows of 1 min before and after · Prometheus at" in said.details[0]


def test_a_breached_wave_names_the_worst_with_figures_and_the_override_command() -> None:
    text = rendered(traffic_entry(BREACHED))
    assert "Traffic got worse after wave 2 of 5: 1 workload breached" in text
    assert ("`reviews-v2` in `bookinfo`: success rate 99.71 % → 92.10 %, p99 245 ms → "
            "1,210 ms, 100.0 → 98.3 req/s") in text
    assert "details-v1" not in text  # +30 ms is within the thresholds: not named
    assert ("Further waves are stopped. Roll back on the card, or continue with "
            "`/mesh-upgrade override aks-prod &lt;reason&gt;`.") in text


def test_a_breach_with_on_breach_rollback_says_the_bot_rolls_back() -> None:
    text = rendered(traffic_entry(BREACHED, on_breach="rollback", held=False))
    assert "The bot is rolling back the data plane, as the cluster's traffic gates ask." in text
    assert "on a breach: `on_breach: rollback`" in text
    assert "override" not in text


def test_a_breach_names_at_most_five_workloads_worst_first() -> None:
    keys = [WorkloadKey("shop", f"svc-{i}") for i in range(7)]
    v = verdict({k: healthy(p99=100) for k in keys},
                {k: healthy(p99=200 + 100 * i) for i, k in enumerate(keys)})
    text = say(traffic_entry(v), SUBJECT).sentence
    assert text.index("`svc-6`") < text.index("`svc-2`")
    assert "`svc-1`" not in text and "and 2 more workloads" in text


def test_too_little_traffic_is_no_verdict_never_a_pass() -> None:
    text = rendered(traffic_entry(SILENT))
    assert "No verdict on the traffic after wave 2 of 5: every workload had too little traffic"\
        in text and "`details-v1` in `bookinfo`" in text
    assert "passed" not in text and "held after" not in text


def test_a_failed_metrics_source_is_no_verdict_and_not_a_pass() -> None:
    text = rendered(traffic_entry(FAILED))
    assert "the metrics source failed (Prometheus answered 503 Service Unavailable); " \
           "not a pass" in text
    assert "Further waves are stopped" in text


def test_the_soak_verdicts_speak_of_the_soak_and_of_complete() -> None:
    assert say(traffic_entry(PASSED, "soak"), SUBJECT).sentence.startswith(
        "Traffic held over the soak: 4 workloads passed")
    text = rendered(traffic_entry(BREACHED, "soak"))
    assert "Traffic got worse over the soak" in text
    assert "Complete is blocked" in text and "override aks-prod" in text


def test_an_override_quotes_who_what_and_why() -> None:
    entry = AuditEntry(12, 7, "aks-prod", "U0BOB", AuditKind.TRAFFIC_OVERRIDDEN,
                       "traffic overridden", T0,
                       {"gate": "wave", "label": "wave 2 of 5", "outcome": "breached",
                        "reason": "reviews-v2 was already failing <before>, INC-42"})
    text = rendered(entry)
    assert ("<@U0BOB> overrode the traffic gate after wave 2 of 5 (breached): "
            "“reviews-v2 was already failing &lt;before&gt;, INC-42”") in text


def test_a_rollback_started_by_the_traffic_gate_says_so() -> None:
    entry = AuditEntry(13, 7, "aks-prod", "bot", AuditKind.PHASE_CHANGED, "phase rolling_back",
                       T0, {"event": "rollback", "to": "rolling_back", "traffic": True,
                            "why": "traffic breached after wave 2 of 5: 1 breached"})
    text = rendered(entry)
    assert "The traffic gate breached, so the bot is rolling back" in text
    assert "approved" not in text and "after wave 2 of 5: 1 breached" in text


def test_only_a_traffic_verdict_entry_has_a_verdict() -> None:
    assert traffic_verdict(traffic_entry(BREACHED)) == BREACHED
    note = AuditEntry(1, 7, "aks-prod", "bot", AuditKind.NOTE, "x", T0, {"verdict": {}})
    assert traffic_verdict(note) is None


# --- the chart -------------------------------------------------------------------------------


def test_the_chart_is_the_same_png_for_the_same_verdict_and_differs_for_another() -> None:
    png = traffic_chart(BREACHED, "after wave 2 of 5")
    assert png.startswith(PNG) and struct.unpack(">I", png[16:20])[0] == 480
    assert png == traffic_chart(BREACHED, "after wave 2 of 5")
    assert png != traffic_chart(PASSED, "after wave 2 of 5")


def test_the_alt_text_names_the_worst_workload_first_with_its_figures() -> None:
    text = traffic_alt_text(BREACHED, "after wave 2 of 5")
    assert text.startswith("Traffic after wave 2 of 5, before and after, worst first: "
                           "reviews-v2 in bookinfo (breached): success rate 99.71 % to "
                           "92.10 %, p99 245 ms to 1,210 ms")
    assert text.endswith("In all: 1 breached, 2 passed, 1 too little traffic.")


def test_the_alt_text_stays_within_slacks_limit_for_many_workloads() -> None:
    keys = [WorkloadKey(f"namespace-{i:03d}", f"a-rather-long-workload-name-{i}")
            for i in range(300)]
    v = verdict({k: healthy() for k in keys}, {k: healthy(p99=400) for k in keys})
    assert len(traffic_alt_text(v, "over the soak")) <= ALT_TEXT_LIMIT
    assert traffic_chart(v, "over the soak").startswith(PNG)  # at most eight bars per panel


# --- the card --------------------------------------------------------------------------------


def card(phase: Phase, steps: dict[str, Any], **extra: Any) -> CardView:
    return CardView(42, 7, "aks-prod", "asm-1-22", "asm-1-23", phase,
                    traffic=traffic_line(steps), **extra)


HOLD = {"gate": "wave", "label": "wave 2 of 5", "outcome": "breached",
        "summary": "1 breached, 2 passed", "action": "roll"}


def test_a_held_roll_out_says_why_and_offers_continue_instead_of_resume() -> None:
    payload = valid(render_card(card(Phase.ROLLING, {"traffic.hold": HOLD},
                                     paused_reason="traffic breached after wave 2 of 5")))
    text = all_text(payload)
    assert ":x: *Traffic:* further waves are held after wave 2 of 5 (breached: 1 breached, "\
        "2 passed)." in text
    assert "`/mesh-upgrade override aks-prod &lt;reason&gt;`" in text
    roll = buttons(payload)[ACTION_IDS[Action.ROLL]]
    assert roll["text"]["text"] == "Continue…"
    assert buttons(payload)[ACTION_IDS[Action.ROLLBACK]]["text"]["text"] == "Roll back"


def test_without_a_hold_the_card_shows_the_last_verdict_and_resume() -> None:
    last = {"label": "wave 1 of 5", "outcome": "passed", "summary": "3 passed",
            "at": T0.isoformat()}
    payload = valid(render_card(card(Phase.ROLLING, {"traffic.last": last},
                                     paused_reason="a rollout is stuck")))
    text = all_text(payload)
    assert ":white_check_mark: *Traffic* after wave 1 of 5: passed: 3 passed" in text
    assert buttons(payload)[ACTION_IDS[Action.ROLL]]["text"]["text"] == "Resume roll-out"


def test_a_held_complete_says_complete_is_held_and_keeps_its_button() -> None:
    hold = {**HOLD, "gate": "soak", "label": "the soak", "outcome": "no_verdict",
            "summary": "3 too little traffic", "action": "complete"}
    payload = valid(render_card(card(Phase.AWAITING_DECISION, {"traffic.hold": hold})))
    text = all_text(payload)
    assert ":grey_question: *Traffic:* Complete is held: the traffic over the soak did not " \
        "pass (no verdict: too little traffic: 3 too little traffic)." in text
    assert buttons(payload)[ACTION_IDS[Action.COMPLETE]]["text"]["text"] == "Complete"
    assert problems(block_text(payload)) == []


def test_no_traffic_steps_no_traffic_line() -> None:
    assert traffic_line({"rolling.1.waves": {}}) is None
    assert "Traffic" not in all_text(valid(render_card(card(Phase.ROLLING, {}))))


# --- the check -------------------------------------------------------------------------------


def check(v: Verdict) -> list[dict[str, Any]]:
    view = CheckView("aks-prod", T0, "asm-1-22", "asm-1-23", 4, 4,
                     traffic=TrafficView(v, 300.0, "Prometheus at http://prom:9090"))
    return valid(render_report(check_report(view)))


def test_a_check_lists_each_moved_workload_worst_first_with_its_outcome() -> None:
    text = all_text(check(BREACHED))
    assert "Prometheus at http://prom:9090 · windows of 5 min · 1 breached, 2 passed, " \
        "1 too little traffic" in text
    lines = [line for line in text.splitlines() if "in `bookinfo`" in line]
    assert lines[0] == (":x: `reviews-v2` in `bookinfo`: 98.3 req/s · success rate 99.71 % → "
                        "92.10 % · p99 245 ms → 1,210 ms · breached")
    assert lines[1].startswith(":grey_question: `ratings-v1`")
    assert lines[1].endswith("too little traffic")
    assert [line.split()[0] for line in lines[2:]] == [":white_check_mark:"] * 2


def test_a_check_says_unavailable_when_the_source_failed() -> None:
    text = all_text(check(FAILED))
    assert ":warning: no verdict: the metrics source failed (Prometheus answered 503 " \
        "Service Unavailable); not a pass" in text


@pytest.mark.parametrize("moved", [11, 400])
def test_a_check_shows_ten_workloads_and_counts_the_rest(moved: int) -> None:
    keys = [WorkloadKey("shop", f"svc-{i:03d}") for i in range(moved)]
    v = verdict({k: healthy() for k in keys}, {k: healthy(p99=90) for k in keys})
    text = all_text(check(v))
    assert text.count("`shop`") == 10 and f"and {moved - 10} more" in text


def test_the_check_section_is_absent_without_traffic_gates() -> None:
    view = CheckView("aks-prod", T0 + timedelta(minutes=1), "asm-1-22", "asm-1-23", 4, 4)
    assert "Traffic" not in all_text(valid(render_report(check_report(view))))


def test_outcomes_round_trip_through_the_audit_detail() -> None:
    assert Verdict.from_json(BREACHED.to_json()).breaches[0].workload == REVIEWS
    assert BREACHED.outcome is Outcome.BREACHED and SILENT.outcome is Outcome.NO_VERDICT
